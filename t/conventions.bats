#!/usr/bin/env bats
# What every program promises: -h usage on stdout with exit 0, --version
# alone, misuse named on stderr as "prog: ..." with one usage line and
# exit 2, write errors of listings as exit 1, a man page, and the layering
# of lib/ (which folder may include which, and which external library).

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

@test "a usage error is one usage line and a hint, never the whole help" {
	local p
	for p in $(programs); do
		run --separate-stderr "$p" --no-such-option </dev/null
		[ "$status" -eq 2 ] || fail "$p exited $status"
		[ "${#stderr_lines[@]}" -eq 3 ] || fail "$p printed ${#stderr_lines[@]} lines: $stderr"
		[[ "${stderr_lines[0]}" == "$p: "*no-such-option* ]] || fail "$p: ${stderr_lines[0]}"
		[[ "${stderr_lines[1]}" == "usage: $p"* ]] || fail "$p: ${stderr_lines[1]}"
		[ "${stderr_lines[2]}" = "try '$p -h'" ] || fail "$p: ${stderr_lines[2]}"
	done
}

@test "--version goes alone: with any other argument it is a usage error" {
	local p
	for p in $(programs); do
		run --separate-stderr "$p" --version --help </dev/null
		[ "$status" -eq 2 ] || fail "$p --version --help exited $status"
		[ -z "$output" ] || fail "$p printed: $output"
		[[ "$stderr" == "$p: --version goes alone"* ]] || fail "$p: $stderr"
	done
}

@test "help and version check their writes: exit 1 when stdout is full" {
	local p a
	for p in $(programs); do
		for a in --help --version; do
			run --separate-stderr sh -c "$p $a > /dev/full"
			[ "$status" -eq 1 ] || fail "$p $a > /dev/full exited $status"
			[[ "$stderr" == "$p: "* ]] || fail "$p $a: $stderr"
		done
	done
}

# The folders of ours that a file in lib/$1 may include (a regexp over the
# included path): base includes nothing of ours; line may use base; meter
# and sink may use base and line; svc may use base, line, the port rule
# and the MQTT settings' rule (one parser for mqttpub's options and mqtt:).
lib_may_include() {
	case $1 in
	base) echo '^base/' ;;
	line) echo '^(base|line)/' ;;
	meter) echo '^(base|line|meter)/' ;;
	sink) echo '^(base|line|sink)/' ;;
	svc) echo '^((base|line|svc)/|meter/port\.h$|sink/mqttset\.h$)' ;;
	*) return 1 ;;
	esac
}

@test "lib/ layering: each folder includes only the folders it may, naming the folder" {
	local f dir allowed inc
	for f in "$TOP"/lib/*/*.[ch]; do
		dir=${f#"$TOP"/lib/}
		dir=${dir%%/*}
		allowed=$(lib_may_include "$dir") || fail "lib/$dir: a new folder; give it a rule in t/conventions.bats"
		while read -r inc; do
			[[ "$inc" == */* ]] || fail "${f#"$TOP"/}: #include \"$inc\" does not name its folder"
			grep -Eq "$allowed" <<<"$inc" || fail "${f#"$TOP"/}: lib/$dir may not include $inc"
		done < <(sed -n 's/^#include "\(.*\)".*/\1/p' "$f")
	done
	for f in "$TOP"/src/*.c; do
		while read -r inc; do
			[[ "$inc" == */* ]] || fail "${f#"$TOP"/}: #include \"$inc\" does not name its folder"
		done < <(sed -n 's/^#include "\(.*\)".*/\1/p' "$f")
	done
}

# Which files may include an external library's headers (regexps over the
# path from the top).  mosquitto.h stays in src/mqttpub.c until the MQTT
# connection moves into lib/sink.
@test "external libraries: each used only in its own place" {
	local rules=(
		'libserialport\.h @ ^lib/meter/port\.c$'
		'(mosquitto|mqtt_protocol)\.h @ ^(lib/sink/|src/mqttpub\.c$)'
		'yaml\.h @ ^lib/svc/'
		'openssl/ @ ^lib/meter/dlms'
		'(jansson\.h|json-c/|json\.h) @ ^lib/(line/reading|sink/)'
	)
	local rule hdr where f
	for rule in "${rules[@]}"; do
		hdr=${rule%% @ *} where=${rule#* @ }
		while read -r f; do
			f=${f#"$TOP"/}
			grep -Eq "$where" <<<"$f" || fail "$f: $(grep -Em1 "^#include <$hdr" "$TOP/$f") is allowed only in $where"
		done < <(grep -El "^#include <$hdr" "$TOP"/lib/*/*.[ch] "$TOP"/src/*.c)
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

@test "tests: a negated command fails its test (bash's set -e ignores '! cmd' but on a test's last line: '|| false' or '|| fail')" {
	local bad
	bad=$(grep -n '^[[:space:]]*! ' "$TOP"/t/*.bats | grep -v '|| \(false\|fail\)' || true)
	[ -z "$bad" ] || fail "negations that cannot fail their test:
$bad"
}
