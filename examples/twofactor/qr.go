package main

import (
	"fmt"
	"html/template"
	"strings"

	goqr "github.com/piglig/go-qr"
)

// qrSVG renders text as a QR code in an inline SVG element: one path, no
// script, no external resource, so it needs no network and passes a strict
// Content-Security-Policy. Medium error correction survives a phone camera
// at an angle.
func qrSVG(text, label string) (template.HTML, error) {
	qr, err := goqr.EncodeText(text, goqr.Medium)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	const quiet = 4 // modules of white border that scanners need
	n := qr.Size()
	var path strings.Builder
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if !qr.Module(x, y) {
				continue
			}
			// Run-length encode each row: fewer bytes, same picture.
			run := 1
			for x+run < n && qr.Module(x+run, y) {
				run++
			}
			fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run - 1
		}
	}
	size := n + 2*quiet
	svg := fmt.Sprintf(`<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="%s"><rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		size, size, template.HTMLEscapeString(label), path.String())
	return template.HTML(svg), nil
}
