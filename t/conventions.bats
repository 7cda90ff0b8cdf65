#!/usr/bin/env bats
# What every program promises: -h usage on stdout with exit 0, --version,
# misuse named on stderr as "prog: ..." with exit 2, and a man page.

load helper

setup() { setup_tmp; }
teardown() { kill_tracked; }

programs() {
	local f
	for f in "$TOP"/src/*.c; do basename "$f" .c; done
}

@test "every program in src/ is built and on PATH" {
	local p
	for p in $(programs); do
		command -v "$p" >/dev/null || fail "$p is not built"
	done
}

@test "--help prints usage on stdout and exits 0" {
	local p
	for p in $(programs); do
		run "$p" --help
		[ "$status" -eq 0 ] || fail "$p --help exited $status"
		[[ "$output" == *[Uu]sage:*"$p"* ]] || fail "$p --help printed no usage: $output"
	done
}

@test "-h alone prints usage and exits 0" {
	local p
	for p in $(programs); do
		run "$p" -h </dev/null
		[ "$status" -eq 0 ] || fail "$p -h exited $status"
		[[ "$output" == *[Uu]sage:*"$p"* ]] || fail "$p -h printed no usage: $output"
	done
}

@test "--version prints the program name and version" {
	local p version
	version=$(sed -n 's/^VERSION *= *//p' "$TOP/Makefile")
	for p in $(programs); do
		run "$p" --version
		[ "$status" -eq 0 ] || fail "$p --version exited $status"
		[ "$output" = "$p $version" ] || fail "$p --version said: $output"
	done
}

@test "an unknown option is a usage error (exit 2) named on stderr" {
	local p
	for p in $(programs); do
		run --separate-stderr "$p" --no-such-option </dev/null
		[ "$status" -eq 2 ] || fail "$p --no-such-option exited $status"
		[[ "$stderr" == *"$p"*no-such-option* ]] || fail "$p did not name the option: $stderr"
	done
}

@test "every program has a man page that names its options and exit status" {
	local p
	for p in $(programs); do
		[ -f "$TOP/man/$p.1" ] || fail "no man/$p.1"
		grep -q '^\.Sh EXIT STATUS' "$TOP/man/$p.1" || fail "man/$p.1 has no EXIT STATUS"
		man -l "$TOP/man/$p.1" >/dev/null 2>&1 || fail "man/$p.1 does not render"
	done
}
