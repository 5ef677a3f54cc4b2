# Sourced by .ci/run: three Distribution 2.8 registries (Debian's `docker-registry`) on
# loopback, each with a temporary config and filesystem storage in a temporary folder: one
# anonymous, one with htpasswd (bcrypt cost 4) auth, and one with Bearer tokens (the `silly`
# controller, documented as for development: it asks for a token from its realm and takes any)
# from a small token service that wants the same user and password. Exports
# ANNEAL_TEST_REGISTRY, ANNEAL_TEST_REGISTRY_AUTH, ANNEAL_TEST_REGISTRY_BEARER (and the token
# service's log as ANNEAL_TEST_TOKEN_LOG), ANNEAL_TEST_REGISTRY_USER and
# ANNEAL_TEST_REGISTRY_PASSWORD, and sets registry_pids for the caller's trap.
registry_tmp=$(mktemp -d /tmp/anneal-registries.XXXXXX)
registry_pids=""

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME PORT [HTPASSWD [TOKEN_REALM]]
start_registry() {
  local dir="$registry_tmp/$1" auth=""
  mkdir -p "$dir/data"
  if [ -n "${3:-}" ]; then
    auth=$(printf 'auth:\n  htpasswd:\n    realm: anneal-test\n    path: %s\n' "$3")
  elif [ -n "${4:-}" ]; then
    auth=$(printf 'auth:\n  silly:\n    realm: %s\n    service: anneal-test\n' "$4")
  fi
  cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
  secret: anneal-test-secret
$auth
YAML
  /usr/bin/docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 &
  registry_pids="$registry_pids $!"
  for _ in $(seq 50); do
    code=$(python3 -c "import urllib.request, urllib.error
try: print(urllib.request.urlopen('http://127.0.0.1:$2/v2/').status)
except urllib.error.HTTPError as e: print(e.code)
except Exception: print(0)")
    [ "$code" != 0 ] && return 0
    sleep 0.2
  done
  echo "registry $1 did not start; its log:" >&2
  cat "$dir/log" >&2
  return 1
}

if ! command -v docker-registry > /dev/null || ! command -v htpasswd > /dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry apache2-utils > /dev/null
fi
ANNEAL_TEST_REGISTRY_USER=anneal ANNEAL_TEST_REGISTRY_PASSWORD=registry-test-pw
htpasswd -Bbn -C 4 "$ANNEAL_TEST_REGISTRY_USER" "$ANNEAL_TEST_REGISTRY_PASSWORD" > "$registry_tmp/htpasswd"
port=$(free_port); start_registry open "$port"; ANNEAL_TEST_REGISTRY=127.0.0.1:$port
port=$(free_port); start_registry auth "$port" "$registry_tmp/htpasswd"; ANNEAL_TEST_REGISTRY_AUTH=127.0.0.1:$port
token_port=$(free_port)
ANNEAL_TEST_TOKEN_LOG=$registry_tmp/token.log
python3 .ci/token_service.py "$token_port" "$ANNEAL_TEST_REGISTRY_USER" "$ANNEAL_TEST_REGISTRY_PASSWORD" "$ANNEAL_TEST_TOKEN_LOG" &
registry_pids="$registry_pids $!"
port=$(free_port); start_registry bearer "$port" "" "http://127.0.0.1:$token_port/token"; ANNEAL_TEST_REGISTRY_BEARER=127.0.0.1:$port
export ANNEAL_TEST_REGISTRY ANNEAL_TEST_REGISTRY_AUTH ANNEAL_TEST_REGISTRY_BEARER ANNEAL_TEST_TOKEN_LOG
export ANNEAL_TEST_REGISTRY_USER ANNEAL_TEST_REGISTRY_PASSWORD
