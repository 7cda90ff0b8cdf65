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
# ROOT_SETUP, if set, is run (sh, as root, $r the root) after the mounts.
in_root() { unshare -m --propagation private sh -c "$ROOT_ENTER" sh "$TMP/root" "$TMP" "${ROOT_SETUP:-}" "$@"; }

# in_root_bg COMMAND...: the same in the background, tracked; ROOT_PID is
# COMMAND's own pid (every step execs the next).
in_root_bg() {
	unshare -m --propagation private sh -c "$ROOT_ENTER" sh "$TMP/root" "$TMP" "${ROOT_SETUP:-}" "$@" &
	ROOT_PID=$!
	track_pid "$ROOT_PID"
}

ROOT_ENTER='r=$1 t=$2 setup=$3
shift 3
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/root.upper,workdir=$t/root.work" "$r" &&
	mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" &&
	mount --rbind /sys "$r/sys" && mount --bind "$t" "$r$t" && eval "$setup" || exit 125
exec chroot "$r" "$@"'

# ROOT_PRIVATE_DEV: a ROOT_SETUP giving the root a /dev of its own (a
# tmpfs with the machine's null, zero, random, tty, ptmx and pts), where a
# test may add /dev/serial/by-id links without touching the machine's.
ROOT_PRIVATE_DEV='mount -t tmpfs -o mode=0755 tmpfs "$r/dev" &&
	for n in null zero full random urandom tty ptmx; do
		touch "$r/dev/$n" && mount --bind "/dev/$n" "$r/dev/$n" || exit 125
	done &&
	mkdir "$r/dev/pts" "$r/dev/shm" && mount --bind /dev/pts "$r/dev/pts"'

# root_has PATH: PATH was created or changed inside the root.
root_has() { [ -e "$TMP/root.upper$1" ] || [ -L "$TMP/root.upper$1" ]; }

# For setup_file: make deb (a no-op when nothing it packs changed).
build_deb() {
	make -C "${M2M_TOP:-$BATS_TEST_DIRNAME/..}" --no-print-directory -s deb > "$BATS_FILE_TMPDIR/deb.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/deb.log" >&3; return 1; }
}

# the_deb: the package make deb built.
the_deb() { ls "$TOP"/build/deb/meter2mqtt_*.deb; }

# Packaging tests test the package and the installed tree, not the code
# under ASan: make check's sanitizer pass skips them (the normal pass ran them).
skip_in_asan_pass() {
	[[ ${M2M_TESTBIN:-} != */asan/* ]] || skip "packaging: tested in the normal pass"
}
