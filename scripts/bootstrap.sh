# shellcheck shell=sh
# Makes this checkout ready to run: sourced (POSIX sh) by the root
# package.json's `demo` and `test` scripts and by .ci/run.
#
#   . ./scripts/bootstrap.sh      Node >= 22.19 and the pinned pnpm on PATH,
#                                 then `pnpm install --frozen-lockfile`
#   herald_services               nats-server installed, PostgreSQL started
#   herald_build                  `pnpm build`
#
# Node: the one on PATH when it is 22.19 or later, else Node 24 from the npm
# registry's node-linux-<_herald_arch> package, unpacked into the cache. pnpm: the
# one on PATH when its major version is the pinned one (`packageManager` in
# package.json), else the pinned version installed with npm into the cache.
# The cache is $HERALD_CACHE, by default $HOME/.cache/herald. Each step
# returns non-zero on failure, so `. ./scripts/bootstrap.sh && ...` stops.

HERALD_NODE_VERSION=24.21.0
# Sourced from the repository's root (npm and pnpm run scripts there).
HERALD_ROOT=$PWD
[ -f "$HERALD_ROOT/scripts/bootstrap.sh" ] || { printf 'bootstrap: source it from the repository root\n' >&2; return 1; }
HERALD_CACHE=${HERALD_CACHE:-${HOME:?HOME is not set}/.cache/herald}
HERALD_PNPM_VERSION=$(sed -n 's/.*"packageManager": *"pnpm@\([^"+]*\).*/\1/p' "$HERALD_ROOT/package.json")
export HERALD_CACHE TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 NO_UPDATE_NOTIFIER=1
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false pnpm_config_update_notifier=false

herald_log() { printf '\n== %s\n' "$*" >&2; }
herald_fail() { printf 'bootstrap: %s\n' "$*" >&2; return 1; }

# Node >= 22.19 (effect 4.1 and the packages' type stripping need it).
herald_node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

herald_node() {
  herald_node_ok && return 0
  case $(uname -m) in
    x86_64 | amd64) _herald_arch=x64 ;;
    aarch64 | arm64) _herald_arch=arm64 ;;
    *) herald_fail "no Node >= 22.19 on PATH and no node-linux package for $(uname -m)" || return 1 ;;
  esac
  _herald_dir=$HERALD_CACHE/node-v$HERALD_NODE_VERSION
  if [ ! -x "$_herald_dir/bin/node" ]; then
    herald_log "installing Node $HERALD_NODE_VERSION from the npm registry (node-linux-$_herald_arch)"
    command -v npm >/dev/null 2>&1 || herald_fail "npm is needed to fetch node-linux-$_herald_arch (Debian: apt-get install nodejs npm)" || return 1
    mkdir -p "$HERALD_CACHE" || return 1
    _herald_tmp=$(mktemp -d "$HERALD_CACHE/.node.XXXXXX") || return 1
    if ! (cd "$_herald_tmp" && npm pack --silent "node-linux-$_herald_arch@$HERALD_NODE_VERSION" >/dev/null &&
      tar xzf "node-linux-$_herald_arch-$HERALD_NODE_VERSION.tgz"); then
      rm -rf "$_herald_tmp"
      herald_fail "could not fetch node-linux-$_herald_arch@$HERALD_NODE_VERSION" || return 1
    fi
    rm -rf "$_herald_dir" && mv "$_herald_tmp/package" "$_herald_dir" && rm -rf "$_herald_tmp" || return 1
  fi
  PATH=$_herald_dir/bin:$PATH
  export PATH
  herald_node_ok || herald_fail "$_herald_dir/bin/node does not run" || return 1
}

herald_pnpm() {
  [ -n "$HERALD_PNPM_VERSION" ] || herald_fail "no pnpm version pinned in package.json (packageManager)" || return 1
  if command -v pnpm >/dev/null 2>&1; then
    _herald_have=$(pnpm --version 2>/dev/null) || _herald_have=
    [ "${_herald_have%%.*}" = "${HERALD_PNPM_VERSION%%.*}" ] && return 0
  fi
  _herald_dir=$HERALD_CACHE/pnpm-$HERALD_PNPM_VERSION
  if [ ! -x "$_herald_dir/bin/pnpm" ]; then
    herald_log "installing pnpm $HERALD_PNPM_VERSION"
    # Run from the cache, not from this checkout: npm must not read the
    # workspace's package.json or .npmrc for a global install.
    (cd "$HERALD_CACHE" && npm install --silent --global --prefix "$_herald_dir" "pnpm@$HERALD_PNPM_VERSION" >/dev/null) ||
      herald_fail "could not install pnpm@$HERALD_PNPM_VERSION" || return 1
  fi
  PATH=$_herald_dir/bin:$PATH
  export PATH
}

herald_sudo() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else herald_fail "$1 needs root: run it as root or install sudo"; fi
}

# What the tests need besides Node: nats-server (installed with apt-get when
# it is missing) and PostgreSQL (started when it is installed but stopped).
herald_services() {
  if [ -z "${NATS_SERVER_BIN:-}" ] && ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    herald_log "installing nats-server (apt-get)"
    command -v apt-get >/dev/null 2>&1 || herald_fail "nats-server is missing: install it, or set NATS_SERVER_BIN" || return 1
    herald_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      herald_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null ||
      herald_fail "could not install nats-server" || return 1
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" 2>/dev/null; then
    herald_log "starting PostgreSQL"
    for _herald_v in /etc/postgresql/*; do
      [ -d "$_herald_v" ] || continue
      herald_sudo pg_ctlcluster --skip-systemctl-redirect "$(basename "$_herald_v")" main start ||
        printf 'bootstrap: PostgreSQL %s did not start; the tests that need it will fail\n' "$(basename "$_herald_v")" >&2
    done
  fi
  return 0
}

herald_build() {
  herald_log "pnpm build"
  pnpm build
}

herald_node && herald_pnpm && {
  printf 'node %s, pnpm %s\n' "$(node --version)" "$(pnpm --version)" >&2
  herald_log "pnpm install --frozen-lockfile"
  pnpm install --frozen-lockfile
}
