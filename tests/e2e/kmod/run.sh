#!/bin/sh
# Host side of the kernel module test: builds the guest driver (static),
# packs an initramfs (busybox-static, veth and vxlan modules, strata_vr.ko, kvr_test, the
# /init script), boots Debian's kernel under qemu (TCG) bounded by timeout,
# and passes only when the console says "KVR-RESULT: PASS".
# Usage: run.sh BUILD_DIR KERNEL_VERSION   (BUILD_DIR holds mod/strata_vr.ko)
set -eu
out=$1
kver=$2
root=$(cd "$(dirname "$0")/../../.." && pwd)
here=$root/tests/e2e/kmod
kernel=/boot/vmlinuz-$kver
mods="/lib/modules/$kver/kernel/drivers/net/veth.ko /lib/modules/$kver/kernel/net/ipv4/udp_tunnel.ko
	/lib/modules/$kver/kernel/net/ipv6/ip6_udp_tunnel.ko /lib/modules/$kver/kernel/drivers/net/vxlan/vxlan.ko"
limit=${KVR_TIMEOUT:-300}
for f in "$kernel" $mods /bin/busybox "$out/mod/strata_vr.ko"; do
	[ -r "$f" ] || { echo "kmod test: missing $f" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "kmod test: no qemu-system-x86_64" >&2; exit 1; }

start=$(date +%s.%N)
g=$out/guest
rm -rf "$g/root"
mkdir -p "$g/root/bin" "$g/root/proc" "$g/root/sys" "$g/root/dev" "$g/root/tmp"
gcc -std=gnu11 -O2 -static -Wall -Wextra -Wshadow -Werror \
	-I"$root" -I"$here/shim" -I"$root/tests/unit/vrouter" -o "$g/root/kvr_test" \
	"$here/kvr_test.c" "$here/env_guest.c" "$root"/vrouter/dp/dp_tables.c \
	"$root"/vrouter/dp/dp_lpm.c "$root"/vrouter/dp/dp_flow.c "$root"/vrouter/dp/dp_fwd.c \
	"$root"/vrouter/msg/msg.c
cp /bin/busybox "$g/root/bin/busybox"
for app in $(/bin/busybox --list); do
	[ "$app" = busybox ] || ln -s busybox "$g/root/bin/$app"
done
cp $mods "$out/mod/strata_vr.ko" "$g/root/"
cp "$here/init.sh" "$g/root/init"
(cd "$g/root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$g/initramfs.cpio.gz"
built=$(date +%s.%N)

rc=0
timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m 512M \
	-nographic -no-reboot -kernel "$kernel" -initrd "$g/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4" < /dev/null > "$g/console.log" 2>&1 || rc=$?
done_at=$(date +%s.%N)
grep -E '^(PASS|FAIL) |KVR-RESULT|  ' "$g/console.log" | tr -d '\r' || true
echo "kmod test: initramfs $(awk "BEGIN{printf \"%.1f\", $built - $start}") s, boot+test $(awk "BEGIN{printf \"%.1f\", $done_at - $built}") s (qemu rc $rc)"
if [ "$rc" -eq 124 ]; then
	echo "kmod test: qemu timed out after $limit s; console in $g/console.log" >&2
	exit 1
fi
if grep -q 'KVR-RESULT: PASS' "$g/console.log" && ! grep -q '^FAIL ' "$g/console.log"; then
	exit 0
fi
echo "kmod test: FAILED; console in $g/console.log" >&2
exit 1
