#!/usr/bin/env bash
# Renders every app and tray icon from the one source, icons/icon.svg; the outputs are committed.
# Needs rsvg-convert (Debian: librsvg2-bin) and, for icon.ico/icon.icns, npx (the Tauri CLI from npm).
# Tray variants are the same mark with a status dot (green = runtime UP, red = DOWN, grey = proxy off).
set -euo pipefail
cd "$(dirname "$0")/../icons"

command -v rsvg-convert >/dev/null || { echo "gen-icons: rsvg-convert missing (apt-get install librsvg2-bin)" >&2; exit 1; }
grep -q '<!-- status-dot -->' icon.svg || { echo "gen-icons: icon.svg lacks the <!-- status-dot --> marker" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

png() { rsvg-convert -w "$2" -h "$2" "$1" -o "$3"; }

png icon.svg 32 32x32.png
png icon.svg 128 128x128.png
png icon.svg 256 128x128@2x.png
png icon.svg 512 icon.png
png icon.svg 1024 "$tmp/icon-1024.png"

# icon.ico (16…256 px) and icon.icns from the Tauri CLI; only those two are kept.
if command -v npx >/dev/null; then
  npx --yes @tauri-apps/cli@2 icon "$tmp/icon-1024.png" -o "$tmp/tauri" >"$tmp/cli.log" 2>&1 || { cat "$tmp/cli.log" >&2; exit 1; }
  cp "$tmp/tauri/icon.ico" "$tmp/tauri/icon.icns" .
else
  echo "gen-icons: npx missing; icon.ico/icon.icns not regenerated" >&2
fi

# A white-ringed dot in the lower right corner, big enough to read at 16–32 px.
tray() {
  local name=$1 color=$2
  sed "s|<!-- status-dot -->|<circle cx=\"800\" cy=\"800\" r=\"196\" fill=\"$color\" stroke=\"#ffffff\" stroke-width=\"56\"/>|" \
    icon.svg > "$tmp/tray-$name.svg"
  png "$tmp/tray-$name.svg" 64 "tray-$name.png"
}
tray up '#16a34a'
tray down '#dc2626'
tray off '#8b93a1'

cp icon.svg ../ui/logo.svg  # the window's header mark

# The installer's welcome and finish pages (installer/windows): the mark without its tile, on the
# tile's gradient, at twice the 164x314 the wizard shows at 100 % (it scales down for sharp 200 %).
# NSIS wants a BMP; Debian's Python with Pillow writes one (python3-pil).
sed -e 's|<rect x="32" y="32" width="960" height="960" rx="216" fill="url(#bg)"/>||' \
  -e 's|width="1024" height="1024" viewBox="0 0 1024 1024"|width="1024" height="1024" viewBox="0 0 1024 1024" x="14" y="110" |' \
  icon.svg >"$tmp/mark.svg"
cat >"$tmp/wizard.svg" <<SVG
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="328" height="628" viewBox="0 0 1052 2014">
  <defs><linearGradient id="w" x1="0" y1="0" x2="0.4" y2="1">
    <stop offset="0" stop-color="#3b5bfd"/><stop offset="1" stop-color="#6d28d9"/></linearGradient></defs>
  <rect width="1052" height="2014" fill="url(#w)"/>
  $(sed -n '/<svg /,$p' "$tmp/mark.svg" | sed '1s|<svg |<svg xmlns:xlink="http://www.w3.org/1999/xlink" |')
</svg>
SVG
rsvg-convert "$tmp/wizard.svg" -o "$tmp/wizard.png"
/usr/bin/python3 -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2])' \
  "$tmp/wizard.png" ../installer/windows/wizard.bmp

ls -l ./*.png ./*.ico ./*.icns ../installer/windows/wizard.bmp 2>/dev/null
