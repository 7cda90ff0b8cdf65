#!/usr/bin/env bats
# The Debian package (make deb): what it holds against what the README says
# it installs, and install, remove and purge with dpkg in a throwaway root
# (t/root.bash: an overlay of this machine, its real dpkg database, adduser
# and maintainer scripts).  make deb is a no-op when nothing changed.

load helper
load root

setup_file() { build_deb; }

setup() {
	skip_in_asan_pass
	setup_tmp
	DEB=$(the_deb)
}
teardown() { kill_tracked; }

# programs: one per src/*.c, whoever added it.
programs() { for f in "$TOP"/src/*.c; do basename "$f" .c; done; }

@test "debian/control builds with every library bin/m2m-deps installs; one version" {
	local dev
	for dev in $("$TOP/bin/m2m-deps" --list | tr ' ' '\n' | grep '^lib.*-dev$' | grep -v '^libclang'); do
		grep -q "^ *\(Build-Depends: *\)\?$dev,\?\$" "$TOP/debian/control" ||
			fail "bin/m2m-deps installs $dev; debian/control's Build-Depends lacks it"
	done
	[ "$(cd "$TOP" && dpkg-parsechangelog -S Version)" = "$(sed -n 's/^VERSION *= *//p' "$TOP/Makefile")" ] ||
		fail "debian/changelog and the Makefile's VERSION differ"
}

# readme_installed: the paths the README's "Installed files" block lists
# (the lines after that heading's fence that start with /), PROG expanded.
readme_installed() {
	awk '/^What the package installs/ { on = 1; next } on && /^```$/ { n++; if (n == 2) exit; next }
		on && n == 1 && $1 ~ /^\// { print $1 }' "$TOP/README" |
		while read -r p; do
			if [[ $p == *PROG* ]]; then
				for prog in $(programs); do echo "${p//PROG/$prog}"; done
			else
				echo "$p"
			fi
		done
}

@test "dpkg-deb -c lists what the README says the package installs, and nothing it does not say" {
	dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|' | grep -v '/$' | sort > "$TMP/deb"
	readme_installed > "$TMP/readme"
	[ "$(grep -c . "$TMP/readme")" -ge 15 ] || fail "README lists $(grep -c . "$TMP/readme") paths"
	local p
	while read -r p; do
		if [[ $p == */ ]]; then
			grep -q "^$p" "$TMP/deb" || fail "README: $p; nothing below it in the package"
		else
			grep -qx "$p" "$TMP/deb" || fail "README: $p; not in the package"
		fi
	done < "$TMP/readme"
	while read -r p; do
		grep -qx "$p" "$TMP/readme" && continue
		local covered=
		while read -r d; do [[ $d == */ && $p == "$d"* ]] && covered=1; done < "$TMP/readme"
		[ -n "$covered" ] || fail "the package has $p; the README does not say so"
	done < "$TMP/deb"
	# every program, its manual page, whoever added it
	for p in $(programs); do
		grep -qx "/usr/bin/$p" "$TMP/deb" || fail "no /usr/bin/$p"
		grep -qx "/usr/share/man/man1/$p.1.gz" "$TMP/deb" || fail "no man page for $p"
	done
}

@test "the configuration is conffiles; the unit is enabled and started by the maintainer scripts" {
	dpkg-deb -e "$DEB" "$TMP/control"
	grep -qx /etc/meter2mqtt/config.yaml "$TMP/control/conffiles"
	grep -qx /etc/meter2mqtt/config.d/dsmr_main.yaml.example "$TMP/control/conffiles"
	grep -q 'deb-systemd-helper .*enable.*meter2mqtt.service' "$TMP/control/postinst"
	grep -q 'adduser --quiet --system --group' "$TMP/control/postinst"
}

@test "install, remove, purge in a throwaway root leave what policy says" {
	root_init
	# install: the user in dialout, a private config, the unit enabled
	run in_root dpkg -i "$DEB"
	assert_success
	run in_root id -nG meter2mqtt
	assert_output "meter2mqtt dialout"
	run in_root stat -c '%a %U:%G' /etc/meter2mqtt/config.yaml
	assert_output "640 root:meter2mqtt"
	run in_root stat -c '%a %U:%G' /etc/meter2mqtt/config.d
	assert_output "750 root:meter2mqtt"
	root_has /etc/systemd/system/multi-user.target.wants/meter2mqtt.service ||
		fail "not enabled: $(ls -R "$TMP/root.upper/etc/systemd" 2>&1)"
	for p in $(programs); do root_has "/usr/bin/$p" || fail "no /usr/bin/$p"; done
	run in_root systemd-analyze verify /lib/systemd/system/meter2mqtt.service
	assert_success
	# what the admin and the service add
	in_root sh -c 'echo "type: dsmr" > /etc/meter2mqtt/config.d/mine.yaml &&
		echo "# mine" >> /etc/meter2mqtt/config.yaml &&
		mkdir -p /var/lib/meter2mqtt/dsmr_main && touch /var/lib/meter2mqtt/dsmr_main/spool'

	# remove: programs gone; configuration, state and the user kept
	run in_root dpkg -r meter2mqtt
	assert_success
	run in_root dpkg-query -W -f '${Status}' meter2mqtt
	assert_output "deinstall ok config-files"
	for p in $(programs); do ! in_root test -e "/usr/bin/$p" || fail "/usr/bin/$p left after remove"; done
	! in_root test -e /lib/systemd/system/meter2mqtt.service || false
	run in_root tail -1 /etc/meter2mqtt/config.yaml
	assert_output "# mine"
	in_root test -f /etc/meter2mqtt/config.d/mine.yaml
	in_root test -f /etc/meter2mqtt/config.d/dsmr_main.yaml.example
	in_root test -f /var/lib/meter2mqtt/dsmr_main/spool
	in_root id meter2mqtt > /dev/null

	# purge: configuration, state, overrides and the enablement gone; the
	# system user stays (Debian's rule: its id may still own files)
	run in_root dpkg -P meter2mqtt
	assert_success
	run in_root dpkg-query -W -f '${Status}' meter2mqtt
	[[ "$output" != *installed* ]] || fail "$output"
	! in_root test -e /etc/meter2mqtt || fail "/etc/meter2mqtt left after purge"
	! in_root test -e /var/lib/meter2mqtt || fail "/var/lib/meter2mqtt left after purge"
	! in_root test -e /etc/systemd/system/multi-user.target.wants/meter2mqtt.service || false
	run in_root dpkg-statoverride --list '/etc/meter2mqtt/*'
	assert_output ""
	in_root id meter2mqtt > /dev/null
}
