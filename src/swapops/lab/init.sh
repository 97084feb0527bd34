#!/bin/busybox sh
# /init of the lab's guest (swapops lab setup puts it in the initramfs).
#
# The root file system is ramfs (rootfstype=ramfs: nothing in it can be
# swapped or reclaimed, so only the workload's pages are). The scenario
# script is read from the start of the second disk (/dev/vdb, written by the
# host); the workload dumps its counters to the same disk from 1 MiB on. The
# first disk (/dev/vda) is the swap device. Lines starting "SWAPOPS-GUEST" on
# the serial console are for the host.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
echo "SWAPOPS-GUEST boot $(cut -d' ' -f1 /proc/uptime) $(uname -r)"
for m in $(cat /modules.order); do
    insmod "/lib/modules/$m.ko" || echo "SWAPOPS-GUEST error insmod $m"
done
rm -rf /lib/modules
if [ -b /dev/vdb ]; then
    dd if=/dev/vdb bs=65536 count=16 2>/dev/null | tr -d '\000' > /scenario.sh
    echo "SWAPOPS-GUEST scenario $(wc -c < /scenario.sh) bytes"
    sh /scenario.sh
    echo "SWAPOPS-GUEST scenario-exit $?"
else
    echo "SWAPOPS-GUEST no-scenario-disk"
fi
echo "SWAPOPS-GUEST poweroff $(cut -d' ' -f1 /proc/uptime)"
poweroff -f
