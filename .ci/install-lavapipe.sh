#!/usr/bin/env bash
# Installs Mesa's lavapipe Vulkan driver from bookworm-backports, the only Mesa on Debian bookworm that
# Dawn (npm `webgpu`) accepts. Bookworm's own Mesa 22.3 is refused ("shaderUniform*ArrayDynamicIndexing").
set -euo pipefail
if [ -f /etc/os-release ] && ! grep -q 'bookworm' /etc/os-release; then
  echo "install-lavapipe: not Debian bookworm; install a Vulkan driver (Mesa >= 24) by hand" >&2
  exit 1
fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
src=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Same mirror and keyring as the existing bookworm entry.
  mirror=$(grep -rhs '^URIs:.*debian$' /etc/apt/sources.list.d/ | head -n1 | awk '{print $2}')
  mirror=${mirror:-http://deb.debian.org/debian}
  $sudo_cmd tee "$src" >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
echo "install-lavapipe: $(dpkg-query -W -f='${Package} ${Version}' mesa-vulkan-drivers)"
