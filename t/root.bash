# t/root.bash: a throwaway root for tests that install, add users, run as
# them: an overlay of this machine's / in $TMP/root, whose writes land in
# $TMP/root.upper (the machine itself is never changed), entered by chroot
# in a mount namespace of its own, so its mounts end with the command.
# /dev, /proc, /sys and $TMP are the machine's.

root_init() {
	mkdir -p "$TMP/root" "$TMP/root.upper" "$TMP/root.work"
	in_root true || skip "no overlay mount or mount namespace here (needs root)"
}

# in_root COMMAND...: COMMAND inside the root, as root.  Two at once would
# mount the same upper directory twice: run one at a time, and reach what
# runs in the background from outside, through /proc/PID/root.
in_root() { unshare -m --propagation private sh -c "$ROOT_ENTER" sh "$TMP/root" "$TMP" "$@"; }

# in_root_bg COMMAND...: the same in the background, tracked; ROOT_PID is
# COMMAND's own pid (every step execs the next).
in_root_bg() {
	unshare -m --propagation private sh -c "$ROOT_ENTER" sh "$TMP/root" "$TMP" "$@" &
	ROOT_PID=$!
	track_pid "$ROOT_PID"
}

ROOT_ENTER='r=$1 t=$2
shift 2
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/root.upper,workdir=$t/root.work" "$r" &&
	mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" &&
	mount --rbind /sys "$r/sys" && mount --bind "$t" "$r$t" || exit 125
exec chroot "$r" "$@"'

# root_has PATH: PATH was created or changed inside the root.
root_has() { [ -e "$TMP/root.upper$1" ] || [ -L "$TMP/root.upper$1" ]; }
