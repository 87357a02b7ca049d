package bench

import (
	"fmt"
	"io"
	"strings"
)

// WriteSummary writes a human summary of res.
func WriteSummary(w io.Writer, res *Result) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s := res.Settings
	p("herald bench %s: %s (topic %s)\n", res.Scenario, res.Hub, res.Topic)
	sub := res.Subscribers
	p("  subscribers  %d of %d connected in %.1f s", sub.Connected, s.Subscribers, res.ConnectSeconds)
	if sub.Failed > 0 {
		p(", %d failed", sub.Failed)
	}
	p("; %d process(es), %d source address(es), file limit %d\n", max(res.Client.Processes, 1), max(s.Sources, 1), s.FileLimit)
	if sub.Disconnects > 0 || sub.Reconnects > 0 {
		p("               %d streams ended during the run, %d reconnections (with Last-Event-ID)\n", sub.Disconnects, sub.Reconnects)
	}

	d := res.Delivery
	if res.Scenario == Idle {
		p("  window       %.1f s idle: %d heartbeats (%.1f/s, comment lines and non-benchmark events)\n",
			res.PublishSeconds, d.Heartbeats, d.HeartbeatsPerSecond)
	} else {
		pub := res.Publish
		p("  published    %d updates by %d publisher(s) in %.2f s (%.1f/s", pub.Acknowledged, s.Publishers, res.PublishSeconds, pub.Rate)
		if pub.TargetRate > 0 {
			p(", target %.1f/s", pub.TargetRate)
		}
		p("); %d rejected (429/503), %d errors", pub.Rejected, pub.Errors)
		if pub.Late > 0 {
			p(", %d sends late", pub.Late)
		}
		p("\n")
		if res.PublishLatency.Count > 0 {
			pl := res.PublishLatency
			p("               publish request p50 %s  p99 %s  max %s\n", ms(pl.P50), ms(pl.P99), ms(pl.Max))
		}
		p("  delivered    %d of %d expected: lost %d, duplicated %d, reordered %d", d.Received, d.Expected, d.Lost, d.Duplicated, d.Reordered)
		if d.Extra > 0 {
			p(", %d beyond the acknowledged", d.Extra)
		}
		if d.LossySubscribers > 0 {
			p(" (%d subscribers lost updates)", d.LossySubscribers)
		}
		p("\n")
		p("               %s deliveries/s over %.2f s (publish + drain %.2f s), %.2f events per read\n",
			si(d.PerSecond), res.PublishSeconds+res.DrainSeconds, res.DrainSeconds, d.EventsPerRead)
		l := res.Latency
		if l.Count > 0 {
			p("  latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d deliveries, publish to %s)\n",
				ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), l.Count, s.LatencyTo)
		}
	}

	if sv := res.Server; sv != nil {
		p("  server       pid %d: %.2f s CPU over the window (%.0f%% of a core)", sv.PID, sv.CPUSeconds, sv.CPUPercent)
		switch {
		case res.Scenario == Idle && sv.CPUPerHeartbeatMicros > 0:
			p(" = %.1f µs per heartbeat", sv.CPUPerHeartbeatMicros)
		case sv.DeliveriesPerCPUSecond > 0:
			p(" = %s deliveries per server CPU-second", si(sv.DeliveriesPerCPUSecond))
		}
		p("\n")
		p("               RSS %s before, %s connected, %s at the end, %s highest sampled, %s peak (VmHWM)\n",
			bytesText(sv.RSSBefore), bytesText(sv.RSSAfter), bytesText(sv.RSSEnd), bytesText(sv.RSSMax), bytesText(sv.RSSPeak))
		if res.Scenario == Idle {
			p("               %.2f KiB per subscriber (RSS growth / %d), %.2f KiB RSS per subscriber\n",
				sv.KiBPerSubscriber, sub.Connected, sv.RSSKiBPerSubscriber)
			ks := sv.SockstatAfter.MemBytes - sv.SockstatBefore.MemBytes
			p("               kernel TCP memory (not in RSS; machine-wide, both ends of loopback): %s before, %s connected (%s), %d sockets in use\n",
				bytesText(sv.SockstatBefore.MemBytes), bytesText(sv.SockstatAfter.MemBytes), signedBytes(ks), sv.SockstatAfter.InUse)
		}
	} else {
		p("  server       not sampled (give --pid to measure the server's CPU and memory)\n")
	}
	c := res.Client
	p("  client       %.2f s CPU over the window (%.0f%% of a core), RSS %s, %s engine", c.CPUSeconds, c.CPUPercent, bytesText(c.RSS), s.Engine)
	if c.CPUPerDeliveryMicros > 0 {
		p("; %.2f µs per delivery", c.CPUPerDeliveryMicros)
	}
	if c.CPUPerReadMicros > 0 {
		p(", %.2f µs per read", c.CPUPerReadMicros)
	}
	p("\n")
	for _, n := range res.Notes {
		p("  note         %s\n", n)
	}
	for i, e := range res.Errors {
		if i == 0 {
			p("  errors       %s\n", e)
		} else {
			p("               %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(x float64) string {
	switch {
	case x >= 1000:
		return fmt.Sprintf("%.2fs", x/1000)
	case x >= 10:
		return fmt.Sprintf("%.0fms", x)
	case x >= 1:
		return fmt.Sprintf("%.1fms", x)
	}
	return fmt.Sprintf("%.0fµs", x*1000)
}

func signedBytes(b int64) string {
	if b >= 0 {
		return "+" + bytesText(b)
	}
	return bytesText(b)
}
