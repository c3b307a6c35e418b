#!/usr/bin/env bash
# Builds the release Debian packages onestop-edge and onestop-cloud into target/debian/, for
# amd64 (this machine) and for the Raspberry Pi's arm64 (cross-compiled here), and checks each
# edge binary with `onestop-edge self-test`: the arm64 one under qemu-aarch64. The binaries are
# stripped; their debug symbols (line tables, for backtraces) go into -dbgsym .ddeb packages.
#
# Usage: deploy/package.sh [amd64|arm64|all]      (default: all)
#
# Installs what a Debian machine lacks first: cargo-deb (cargo install); for arm64 the Rust
# target aarch64-unknown-linux-gnu (rustup) and Debian's gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user. The first arm64 build takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
ARM64=aarch64-unknown-linux-gnu
OUT=target/debian
PACKAGES=(-p onestop-edge -p onestop-cloud -p onestop-provision)

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

case "${1:-all}" in
    amd64) arches=(amd64) ;;
    arm64) arches=(arm64) ;;
    all) arches=(amd64 arm64) ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac

apt_install() {
    local need=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "== installing ${need[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

if ! cargo deb --version >/dev/null 2>&1; then
    echo "== cargo-deb is missing: installing it (once)"
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

# The packages' contents, one line each, and the self-test's verdict.
summary() {
    local deb=$1
    echo "   $(dpkg-deb -f "$deb" Package Version Architecture | paste -sd' ')  $(du -h "$deb" | cut -f1)  $deb"
    local depends
    depends=$(dpkg-deb -f "$deb" Depends)
    [ -z "$depends" ] || echo "   Depends: $depends"
}

build_amd64() {
    if [ "$(dpkg --print-architecture)" != amd64 ]; then
        echo "package.sh: amd64 packages are built on an amd64 machine" >&2
        exit 1
    fi
    echo "== amd64: cargo build --release"
    cargo build --release "${PACKAGES[@]}" --bins
    echo "== amd64: self-test"
    target/release/onestop-edge self-test
    echo "== amd64: packages"
    for pkg in onestop-edge onestop-cloud; do
        cargo deb --no-build --dbgsym -p "$pkg" -o "$OUT/"
    done
}

build_arm64() {
    apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
    if ! rustup target list --installed | grep -qx "$ARM64"; then
        echo "== adding the Rust target $ARM64"
        rustup target add "$ARM64"
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    # cargo-deb strips with these (the host's strip cannot read arm64 binaries).
    export STRIP_aarch64_unknown_linux_gnu=aarch64-linux-gnu-strip
    export OBJCOPY_aarch64_unknown_linux_gnu=aarch64-linux-gnu-objcopy
    echo "== arm64: cargo build --release --target $ARM64"
    cargo build --release --target "$ARM64" "${PACKAGES[@]}" --bins
    echo "== arm64: self-test under qemu-aarch64"
    qemu-aarch64 -L /usr/aarch64-linux-gnu "target/$ARM64/release/onestop-edge" self-test
    echo "== arm64: packages"
    for pkg in onestop-edge onestop-cloud; do
        cargo deb --no-build --dbgsym --target "$ARM64" -p "$pkg" -o "$OUT/"
    done
}

mkdir -p "$OUT"
for arch in "${arches[@]}"; do
    "build_$arch"
done

# The workspace's version ([workspace.package] in Cargo.toml), as the packages are named.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
echo "== built"
for arch in "${arches[@]}"; do
    for pkg in onestop-edge onestop-cloud; do
        summary "$OUT/${pkg}_${version}-1_${arch}.deb"
        summary "$OUT/${pkg}-dbgsym_${version}-1_${arch}.ddeb"
    done
done
echo "The Pi's boot bundle takes the arm64 onestop-edge package: onestop-provision bundle --deb $OUT/onestop-edge_${version}-1_arm64.deb ..."
