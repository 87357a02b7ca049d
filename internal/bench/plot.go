package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// WritePlot writes a self-contained HTML page (inline SVG, no script)
// with the run's latency distribution, its throughput over time and the
// server's CPU and memory over time.
func WritePlot(w io.Writer, res *Result) error {
	var b strings.Builder
	title := fmt.Sprintf("herald bench %s — %s", res.Scenario, res.Hub)
	fmt.Fprintf(&b, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}
h1{font-size:1.3em} h2{font-size:1.05em;margin-top:2em}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:.85em}
svg{background:#fff;border:1px solid #ddd}
svg text{font-size:11px;fill:#444}
</style></head><body>
<h1>%s</h1>
`, html.EscapeString(title), html.EscapeString(title))
	var sum strings.Builder
	WriteSummary(&sum, res)
	fmt.Fprintf(&b, "<pre>%s</pre>\n", html.EscapeString(sum.String()))

	if l := res.Latency; l.Count > 0 && len(l.CDF) > 0 {
		b.WriteString("<h2>Delivery latency by percentile</h2>\n")
		var pts []point
		for _, c := range l.CDF {
			if c.Percentile >= 100 {
				pts = append(pts, point{nines(99.9999), c.Ms})
				continue
			}
			pts = append(pts, point{nines(c.Percentile), c.Ms})
		}
		ch := chart{
			xLabel: "percentile", yLabel: "latency (ms)",
			series: []series{{name: "delivery latency", color: "#1f6fb4", pts: pts}},
			xTicks: []tick{{0, "0%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}, {6, "max"}},
			xMin:   0, xMax: 6,
		}
		ch.render(&b)
	}

	if len(res.Timeline) > 0 {
		var recv, pub, live, cpu, ccpu, rss []point
		var prevPub int64
		var prevT float64
		for i, s := range res.Timeline {
			recv = append(recv, point{s.T, s.PerSecond})
			live = append(live, point{s.T, float64(s.Live)})
			if i > 0 && s.T > prevT {
				pub = append(pub, point{s.T, float64(s.Published-prevPub) / (s.T - prevT)})
			}
			prevPub, prevT = s.Published, s.T
			if s.ServerRSS > 0 {
				cpu = append(cpu, point{s.T, s.ServerCPU})
				rss = append(rss, point{s.T, float64(s.ServerRSS) / (1 << 20)})
			}
			ccpu = append(ccpu, point{s.T, s.ClientCPU})
		}
		if res.Scenario != Idle {
			b.WriteString("<h2>Throughput over time</h2>\n")
			(&chart{xLabel: "seconds", yLabel: "deliveries per second",
				series: []series{{name: "deliveries/s", color: "#1f6fb4", pts: recv}}}).render(&b)
			b.WriteString("<h2>Publishing over time</h2>\n")
			(&chart{xLabel: "seconds", yLabel: "updates per second",
				series: []series{{name: "acknowledged publishes/s", color: "#c0392b", pts: pub}}}).render(&b)
		}
		b.WriteString("<h2>Subscribers over time</h2>\n")
		(&chart{xLabel: "seconds", yLabel: "live streams",
			series: []series{{name: "live", color: "#27ae60", pts: live}}}).render(&b)
		b.WriteString("<h2>CPU over time (% of one core)</h2>\n")
		cs := []series{{name: "client (load generator)", color: "#7f8c8d", pts: ccpu}}
		if len(cpu) > 0 {
			cs = append([]series{{name: "server", color: "#c0392b", pts: cpu}}, cs...)
		}
		(&chart{xLabel: "seconds", yLabel: "CPU %", series: cs}).render(&b)
		if len(rss) > 0 {
			b.WriteString("<h2>Server memory over time</h2>\n")
			(&chart{xLabel: "seconds", yLabel: "RSS (MiB)",
				series: []series{{name: "server RSS", color: "#8e44ad", pts: rss}}}).render(&b)
		}
	}
	js, err := json.MarshalIndent(res.Settings, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "<h2>Settings</h2><pre>%s</pre>\n</body></html>\n", html.EscapeString(string(js)))
	_, err = io.WriteString(w, b.String())
	return err
}

// nines maps a percentile to the "number of nines" axis: 90% → 1,
// 99% → 2, 99.9% → 3.
func nines(p float64) float64 {
	if p >= 100 {
		return 6
	}
	return math.Min(-math.Log10(1-p/100), 6)
}

type point struct{ x, y float64 }

type series struct {
	name  string
	color string
	pts   []point
}

type tick struct {
	v     float64
	label string
}

type chart struct {
	xLabel, yLabel string
	series         []series
	xTicks         []tick // nil: computed
	xMin, xMax     float64
}

const (
	plotW, plotH                   = 900, 320
	padL, padR, padT, padB float64 = 70, 20, 30, 45
)

func (c *chart) render(b *strings.Builder) {
	xmin, xmax := c.xMin, c.xMax
	auto := c.xTicks == nil
	ymax := 0.0
	first := true
	for _, s := range c.series {
		for _, p := range s.pts {
			if auto {
				if first || p.x < xmin {
					xmin = p.x
				}
				if first || p.x > xmax {
					xmax = p.x
				}
				first = false
			}
			if !math.IsNaN(p.y) && !math.IsInf(p.y, 0) {
				ymax = math.Max(ymax, p.y)
			}
		}
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	yTicks := niceTicks(0, ymax)
	ymax = yTicks[len(yTicks)-1].v
	if ymax <= 0 {
		ymax = 1
	}
	xt := c.xTicks
	if auto {
		xt = niceTicks(xmin, xmax)
		xmin, xmax = math.Min(xmin, xt[0].v), math.Max(xmax, xt[len(xt)-1].v)
	}
	iw, ih := plotW-padL-padR, plotH-padT-padB
	X := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*iw }
	Y := func(y float64) float64 { return padT + ih - y/ymax*ih }

	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", plotW, plotH, plotW, plotH)
	for _, t := range yTicks {
		y := Y(t.v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			padL, y, padL+iw, y, padL-6, y+4, html.EscapeString(t.label))
	}
	for _, t := range xt {
		x := X(t.v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			x, padT, x, padT+ih, x, padT+ih+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", padL, padT, iw, ih)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padL+iw/2, plotH-8, html.EscapeString(c.xLabel))
	fmt.Fprintf(b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+ih/2, html.EscapeString(c.yLabel))
	for i, s := range c.series {
		if len(s.pts) == 0 {
			continue
		}
		var pts strings.Builder
		for _, p := range s.pts {
			if math.IsNaN(p.y) || math.IsInf(p.y, 0) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", X(p.x), Y(p.y))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.TrimSpace(pts.String()))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="12" height="3" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			padL+10, padT+10+float64(i)*15, s.color, padL+26, padT+14+float64(i)*15, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
}

// niceTicks returns about five round tick values covering [lo, hi].
func niceTicks(lo, hi float64) []tick {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []tick
	for v := start; v <= hi+step*0.999; v += step {
		out = append(out, tick{v, trimFloat(v)})
		if len(out) > 20 {
			break
		}
	}
	return out
}

func trimFloat(v float64) string {
	switch {
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%gM", round(v/1e6, 3))
	case math.Abs(v) >= 1e4:
		return fmt.Sprintf("%gk", round(v/1e3, 3))
	}
	return fmt.Sprintf("%g", round(v, 3))
}
