#!/usr/bin/env bash
# Install everything the tests need: Debian packages, the wheel cache, the Python test
# extra, Claude Code.
set -euo pipefail
cd "$CCPROV_REPO"

# systemd: systemd-analyze scores the roles' units (tests/unit/test_unit_hardening.py);
# strace: records every connection Claude Code and the agents make (tests/e2e/test_on_network.py);
# the lint stage checks every shell script with shellcheck (tests/stages/lint.sh);
# nginx-light: the gateway's rendered nginx.conf run for real (tests/unit/test_gateway_limits.py);
# openssl: certificates checked as clients check them (tests/unit/test_gateway_ca.py, the
# status probe's expiry reading); Debian ranks it optional. fish: the fish conf.d file run in
# real fish (tests/switcher/test_claude_switch_fish.py). redis-server: the gateway workers'
# shared pins, and the spread's Lua script run for real (tests/conformance/test_spread.py,
# tests/unit/test_gateway_spread.py); only its binary is used, on a loopback port of its own.
apt_packages=(zsh fish podman runc debootstrap uidmap slirp4netns fuse-overlayfs iproute2 openssh-client
  systemd strace shellcheck nginx-light openssl redis-server)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The run's wheel cache and the locked uv (tests/wheelhouse.sh), then the test extra with
# that uv (several times faster than pip on a cold machine).
bash tests/wheelhouse.sh .cache/wheelhouse
if [ ! -x "$CCPROV_VENV/bin/python" ]; then
  python3 -m venv "$CCPROV_VENV"
fi
.cache/uv/bin/uv pip install -q --system-certs --python "$CCPROV_VENV/bin/python" -e '.[test]'

# vLLM from the vllm_server role's lock for the reference backend (~9 GB, about a minute and
# a half on a fresh machine): in the background while pytest runs; the reference tests
# (tests/stages/vllm-reference.sh) wait for it (tests/vllm_reference/install.sh takes a lock).
mkdir -p .cache/vllm-reference
setsid bash tests/vllm_reference/install.sh >.cache/vllm-reference/install.log 2>&1 </dev/null &
# The Debian 12 test-host image likewise (debootstrap, about a minute and a half):
# 30-hostbed-image waits for it. Debian 13's is built later, beside the role scenarios (two
# cores: built here too, it slowed setup and lint by about a minute).
mkdir -p .cache/hostbed
CONTAINERS_CONF="$CCPROV_REPO/tests/hostbed/containers.conf" \
  setsid bash tests/hostbed/build-image.sh >.cache/hostbed/build.log 2>&1 </dev/null &

# The real Claude Code CLI, the client of the end-to-end tests.
CLAUDE_CODE_VERSION=${CLAUDE_CODE_VERSION:-2.1.331}
if ! "$CCPROV_REPO/.cache/node/node_modules/.bin/claude" --version 2>/dev/null | grep -q "$CLAUDE_CODE_VERSION"; then
  mkdir -p .cache/node
  npm install --silent --no-audit --no-fund --prefix .cache/node "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
fi
echo "claude: $("$CCPROV_REPO/.cache/node/node_modules/.bin/claude" --version)"
echo "ansible: $("$CCPROV_VENV/bin/ansible-playbook" --version | awk 'NR == 1')"
