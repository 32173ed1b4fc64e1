# Video: GStreamer's RTSP server for the fake camera (system Python, `gi` from Debian), ffmpeg, and the
# test footage (vtest.avi from Debian's opencv-doc, converted once to H.264 MP4 and cached in $CACHE).
step "video: GStreamer RTSP server, ffmpeg"
apt_install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
    gstreamer1.0-libav ffmpeg

step "video: test footage in $CACHE"
if [ ! -s "$CACHE/vtest.mp4" ]; then
    _vtmp="$(mktemp -d)"
    if [ -s /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
        cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$_vtmp/vtest.avi"
    else
        # Only the one file is wanted: fetch the .deb and unpack it without installing the doc set.
        [ -n "$_apt_updated" ] || { $SUDO apt-get update -qq; _apt_updated=1; }
        (cd "$_vtmp" && apt-get download -qq opencv-doc >/dev/null && dpkg-deb -x opencv-doc_*.deb pkg)
        cp "$_vtmp/pkg/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$_vtmp/vtest.avi"
    fi
    cp "$_vtmp/vtest.avi" "$CACHE/vtest.avi"
    # H.264, a keyframe every 20 frames (2 s at 10 fps), yuv420p, no audio; faststart for quick opening.
    ffmpeg -nostdin -loglevel error -y -i "$_vtmp/vtest.avi" -c:v libx264 -preset veryfast -pix_fmt yuv420p \
        -g 20 -an -movflags +faststart "$_vtmp/vtest.mp4"
    mv "$_vtmp/vtest.mp4" "$CACHE/vtest.mp4"
    rm -rf "$_vtmp"
fi
