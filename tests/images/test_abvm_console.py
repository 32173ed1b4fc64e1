"""abvm's reading of a QEMU console across boots: which kernel started with which /usr, and which boots a kernel
panic ended (the images' panic=10 reboots them). Console text in the shape the kernel prints it."""

from __future__ import annotations

import pytest

from tests.images import abvm

V1, V2, V3 = "111111111111", "222222222222", "333333333333"


def _boot(usrhash: str, *, panic: bool = False) -> str:
    text = f"[    0.000000] Command line: panic=10 mount.usr=/dev/mapper/usr usrhash={usrhash}abcdef console=ttyS0\n"
    text += "[    1.234567] Run /init as init process\n"
    if panic:
        text += ("[    5.100000] Kernel panic - not syncing: Fatal exception in interrupt\n"
                 "[    5.100001] Rebooting in 10 seconds..\n")
    return text


def test_kernel_starts_tell_each_boot_and_whether_it_panicked() -> None:
    console = _boot(V1) + _boot(V2, panic=True) + _boot(V2)
    assert abvm.kernel_starts(console) == [(V1, False), (V2, True), (V2, False)]
    assert abvm.kernel_panics(console) == 1


def test_three_tries_then_back_on_the_good_version() -> None:
    abvm.assert_tried_three_times_then_back(_boot(V1) + _boot(V2) + _boot(V3) * 3 + _boot(V2), V1, V2)


def test_a_panicked_boot_of_a_good_version_is_booted_again_not_counted() -> None:
    console = _boot(V1, panic=True) + _boot(V1) + _boot(V2) + _boot(V3) * 3 + _boot(V2, panic=True) + _boot(V2)
    abvm.assert_tried_three_times_then_back(console, V1, V2)


def test_a_panicked_try_of_the_bad_version_is_one_of_its_tries() -> None:
    console = _boot(V1) + _boot(V2) + _boot(V3) + _boot(V3, panic=True) + _boot(V3) + _boot(V2)
    abvm.assert_tried_three_times_then_back(console, V1, V2)
    four_tries = _boot(V1) + _boot(V2) + _boot(V3) * 2 + _boot(V3, panic=True) + _boot(V3) + _boot(V2)
    with pytest.raises(AssertionError):  # systemd-boot gives a version three tries, a panicked one included
        abvm.assert_tried_three_times_then_back(four_tries, V1, V2)

def test_not_back_on_the_good_version_fails() -> None:
    with pytest.raises(AssertionError):
        abvm.assert_tried_three_times_then_back(_boot(V1) + _boot(V2) + _boot(V3) * 3, V1, V2)
