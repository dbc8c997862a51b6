#!/usr/bin/env bash
# ensure-tools.sh — make sure the external tools Garrison's make targets need
# are installed, installing them from Debian apt / the Go module proxy when
# possible.
#
# Usage:
#   scripts/ensure-tools.sh [--require] haproxy|protoc|all [...]
#
#   haproxy   the `haproxy` binary (Debian package: haproxy); used by
#             `make run` and by the deploy package's config test.
#   protoc    `protoc` (Debian package: protobuf-compiler) and `protoc-gen-go`
#             (go install google.golang.org/protobuf/cmd/protoc-gen-go at the
#             version of google.golang.org/protobuf pinned in go.mod).
#   all       both of the above.
#
#   --require         a tool that is still missing after the install attempt
#                     is an error (exit 1). Without it the script prints a
#                     warning with install instructions and exits 0, so the
#                     caller can carry on (e.g. tests that skip without the
#                     tool). ENSURE_TOOLS_REQUIRE=1 in the environment has
#                     the same effect.
#   -h, --help        this text.
#
# Behaviour:
#   * Idempotent: a tool that is already present is never reinstalled
#     (protoc-gen-go is reinstalled only if its version differs from go.mod).
#   * Installing needs root, or sudo that works without a password
#     (sudo -n). `apt-get update` runs at most once per invocation, and only
#     when something actually has to be installed.
#   * A tool is found on PATH or in /usr/local/sbin, /usr/sbin, /sbin (Debian
#     installs haproxy in /usr/sbin, which ordinary users' PATH lacks; the
#     line then carries a NOTE).
#   * Quiet: one line per tool on success; the apt/go output is shown only
#     when an install fails.
#   * GOBIN (or the first GOPATH entry's bin/) is put on PATH for the
#     protoc-gen-go check. This script cannot change the caller's PATH; if
#     that directory is not on it, a note says so (a Makefile can
#     `export PATH := $(shell go env GOPATH)/bin:$(PATH)`).
#
# Exit status: 0 all requested tools present (or missing without --require),
#              1 a tool is missing and --require was given, 2 usage error.
set -euo pipefail

PROG=ensure-tools
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

REQUIRE=0
case "${ENSURE_TOOLS_REQUIRE:-}" in 1 | true | yes) REQUIRE=1 ;; esac

short_usage() {
	echo "usage: scripts/ensure-tools.sh [--require] haproxy|protoc|all [...]   (--help for details)"
}

usage() {
	sed -n '2,/^set -euo pipefail/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}"
}

info() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: WARNING: %s\n' "$PROG" "$*" >&2; }
err() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; }

LOG="$(mktemp "${TMPDIR:-/tmp}/ensure-tools.XXXXXX")"
trap 'rm -f "$LOG"' EXIT

FAILED=0 # set to 1 when a requested tool is missing at the end

# missing NAME HOWTO: report a tool that is still unavailable.
missing() {
	local name=$1 howto=$2
	if [[ $REQUIRE == 1 ]]; then
		err "$name is not installed and could not be installed automatically. Install it with: $howto"
	else
		warn "$name is not installed and could not be installed automatically; continuing without it. Install it with: $howto"
	fi
	FAILED=1
}

# show_log: dump the captured output of a failed install to stderr.
show_log() {
	if [[ -s $LOG ]]; then
		sed 's/^/    /' "$LOG" >&2
	fi
	: >"$LOG"
}

# ---- privileged apt ----------------------------------------------------------

SUDO_MODE= # "", "root", "sudo" or "none" once probed
as_root() {
	case "$SUDO_MODE" in
	root) "$@" ;;
	sudo) sudo -n "$@" ;;
	*) return 1 ;;
	esac
}

can_install_apt() {
	if [[ -z $SUDO_MODE ]]; then
		if [[ $(id -u) == 0 ]]; then
			SUDO_MODE=root
		elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
			SUDO_MODE=sudo
		else
			SUDO_MODE=none
		fi
	fi
	[[ $SUDO_MODE != none ]] && command -v apt-get >/dev/null 2>&1
}

APT_UPDATED=0
# Wait for the dpkg lock instead of failing when two make targets race.
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

# apt_install PKG...: apt-get update (once) + install. Returns non-zero on failure.
apt_install() {
	can_install_apt || return 1
	if [[ $APT_UPDATED == 0 ]]; then
		if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" -qq update >"$LOG" 2>&1; then
			err "apt-get update failed:"
			show_log
			return 1
		fi
		APT_UPDATED=1
	fi
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" -qq -y \
		--no-install-recommends install "$@" >"$LOG" 2>&1; then
		err "apt-get install $* failed:"
		show_log
		return 1
	fi
	: >"$LOG"
}

apt_hint() {
	if [[ $(id -u) == 0 ]]; then
		echo "apt-get update && apt-get install -y --no-install-recommends $*"
	else
		echo "sudo apt-get update && sudo apt-get install -y --no-install-recommends $*"
	fi
}

# find_cmd CMD: print the path of CMD, looking on PATH and then in the sbin
# directories (Debian installs haproxy in /usr/sbin, which is not on an
# ordinary user's PATH).
find_cmd() {
	local d
	if command -v "$1" 2>/dev/null; then
		return 0
	fi
	for d in /usr/local/sbin /usr/sbin /sbin; do
		if [[ -x $d/$1 ]]; then
			echo "$d/$1"
			return 0
		fi
	done
	return 1
}

# ensure_apt_tool CMD PKG VERSION-FLAG: make CMD available from Debian package PKG.
ensure_apt_tool() {
	local cmd=$1 pkg=$2 vflag=$3
	local verb=present path
	if ! path="$(find_cmd "$cmd")"; then
		if apt_install "$pkg" && path="$(find_cmd "$cmd")"; then
			verb=installed
		else
			missing "$cmd" "$(apt_hint "$pkg")"
			return 0
		fi
	fi
	local ver where=$path
	ver="$("$path" "$vflag" 2>&1 | head -n 1)" || true
	if ! command -v "$cmd" >/dev/null 2>&1; then
		where="$where; NOTE: $(dirname "$path") is not on your PATH"
	fi
	info "$cmd $verb: ${ver:-unknown version} ($where)"
}

# ---- tools -------------------------------------------------------------------

ensure_haproxy() {
	ensure_apt_tool haproxy haproxy -v
}

# go_bin_dir: where `go install` puts binaries.
go_bin_dir() {
	local gobin gopath
	gobin="$(go env GOBIN)"
	if [[ -n $gobin ]]; then
		echo "$gobin"
		return
	fi
	gopath="$(go env GOPATH)"
	echo "${gopath%%:*}/bin"
}

# protobuf_version: version of google.golang.org/protobuf required by go.mod.
protobuf_version() {
	local v
	v="$(cd "$REPO_ROOT" && go list -m -f '{{.Version}}' google.golang.org/protobuf 2>/dev/null)" || v=
	if [[ -z $v ]]; then
		# Fallback: read go.mod directly (e.g. when go list needs the network).
		v="$(awk '$1 == "google.golang.org/protobuf" { print $2; exit } $2 == "google.golang.org/protobuf" { print $3; exit }' "$REPO_ROOT/go.mod")"
	fi
	echo "$v"
}

ensure_protoc_gen_go() {
	if ! command -v go >/dev/null 2>&1; then
		missing protoc-gen-go "install Go, then: go install google.golang.org/protobuf/cmd/protoc-gen-go@<version of google.golang.org/protobuf in go.mod>"
		return 0
	fi
	local want bindir have verb=present
	want="$(protobuf_version)"
	if [[ -z $want ]]; then
		missing protoc-gen-go "go install google.golang.org/protobuf/cmd/protoc-gen-go@<version> (google.golang.org/protobuf is not in go.mod)"
		return 0
	fi
	bindir="$(go_bin_dir)"
	local orig_path=$PATH
	export PATH="$bindir:$PATH"

	have=
	if command -v protoc-gen-go >/dev/null 2>&1; then
		have="$(protoc-gen-go --version 2>/dev/null | awk '{ print $NF }')" || have=
	fi
	if [[ $have != "$want" ]]; then
		# Missing, or a different version than go.mod pins: generated code
		# records the generator version, so use exactly the pinned one.
		# GOFLAGS is cleared so a project-level -mod=... cannot break a
		# module-mode `go install pkg@version`.
		if (cd "$REPO_ROOT" && GOFLAGS='' go install "google.golang.org/protobuf/cmd/protoc-gen-go@$want") >"$LOG" 2>&1 &&
			[[ -x $bindir/protoc-gen-go ]]; then
			verb="installed"
			[[ -n $have ]] && verb="installed (replacing $have)"
			: >"$LOG"
		else
			err "go install google.golang.org/protobuf/cmd/protoc-gen-go@$want failed:"
			show_log
			missing protoc-gen-go "go install google.golang.org/protobuf/cmd/protoc-gen-go@$want"
			return 0
		fi
	fi
	# protoc finds plugins through the caller's PATH: say so if that PATH
	# would not pick the binary checked here.
	local where orig_where
	where="$(command -v protoc-gen-go)"
	orig_where="$(PATH=$orig_path command -v protoc-gen-go 2>/dev/null)" || orig_where=
	if [[ $orig_where != "$where" ]]; then
		where="$where; NOTE: your PATH resolves protoc-gen-go to ${orig_where:-nothing}, put $bindir first: export PATH=\"$bindir:\$PATH\""
	fi
	info "protoc-gen-go $verb: $want ($where)"
}

# Debian's protobuf-compiler ships protoc without the well-known types
# (google/protobuf/any.proto, struct.proto); libprotobuf-dev has them.
WKT_PROTO=/usr/include/google/protobuf/any.proto

ensure_protoc_includes() {
	if [[ -f $WKT_PROTO ]]; then
		info "protobuf well-known types present: $(dirname "$WKT_PROTO")"
	elif apt_install libprotobuf-dev && [[ -f $WKT_PROTO ]]; then
		info "protobuf well-known types installed: $(dirname "$WKT_PROTO")"
	else
		missing "google/protobuf/*.proto" "$(apt_hint libprotobuf-dev)"
	fi
}

ensure_protoc() {
	ensure_apt_tool protoc protobuf-compiler --version
	ensure_protoc_includes
	ensure_protoc_gen_go
}

# ---- main --------------------------------------------------------------------

TOOLS=()
for arg in "$@"; do
	case "$arg" in
	--require) REQUIRE=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	haproxy | protoc) TOOLS+=("$arg") ;;
	all) TOOLS+=(haproxy protoc) ;;
	*)
		err "unknown argument: $arg"
		short_usage >&2
		exit 2
		;;
	esac
done
if [[ ${#TOOLS[@]} == 0 ]]; then
	err "no tool given"
	short_usage >&2
	exit 2
fi

declare -A SEEN=()
for tool in "${TOOLS[@]}"; do
	[[ -n ${SEEN[$tool]:-} ]] && continue
	SEEN[$tool]=1
	case "$tool" in
	haproxy) ensure_haproxy ;;
	protoc) ensure_protoc ;;
	esac
done

if [[ $FAILED == 1 && $REQUIRE == 1 ]]; then
	exit 1
fi
exit 0
