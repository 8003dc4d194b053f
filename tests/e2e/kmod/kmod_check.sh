#!/bin/sh
# Runs its arguments (a make of vrouter/kmod) when the kernel headers, the
# matching kernel image and qemu are installed; exits 77 (ctest: skipped)
# otherwise, naming what is missing.
kver=$(ls /boot 2>/dev/null | sed -n 's/^vmlinuz-\(.*\)$/\1/p' | sort -V | tail -1)
if [ -z "$kver" ] || [ ! -d "/usr/src/linux-headers-$kver" ]; then
	echo "kmod: skipped, no kernel image with matching linux-headers (apt-get install linux-headers-amd64 linux-image-amd64)"
	exit 77
fi
case "$*" in
*" test")
	for t in qemu-system-x86_64 cpio gzip; do
		command -v "$t" >/dev/null || { echo "kmod: skipped, no $t"; exit 77; }
	done
	[ -x /bin/busybox ] || { echo "kmod: skipped, no /bin/busybox (busybox-static)"; exit 77; }
	;;
esac
exec "$@" KVER="$kver"
