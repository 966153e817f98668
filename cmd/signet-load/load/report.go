package load

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// maxProcessesShown bounds the list of measured processes in the table.
const maxProcessesShown = 10

// WriteTable writes the report as an aligned table.
func WriteTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "signet-load: %s, %d workers, %s per scenario\n\n", rep.Issuer, rep.Concurrency, rep.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	withMem := rep.HWM > 0 || rep.PeakRSS > 0
	withCancelled := false
	for _, r := range rep.Results {
		withCancelled = withCancelled || r.Cancelled > 0
	}
	header := "scenario\trequests\treq/s\tp50\tp99\terrors\t"
	if withCancelled {
		header += "cancelled\t"
	}
	header += "wall\t"
	if withMem {
		header += "peak RSS\t"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rep.Results {
		line := fmt.Sprintf("%s\t%d\t%.1f\t%s\t%s\t%d\t", r.Scenario, r.Requests, r.PerSecond, ms(r.P50), ms(r.P99), r.Errors)
		if withCancelled {
			line += fmt.Sprintf("%d\t", r.Cancelled)
		}
		line += secs(r.Wall) + "\t"
		if withMem {
			line += mib(r.PeakRSS) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	var notes []string
	for _, r := range rep.Results {
		if r.Scenario == Login && r.Requests > 0 {
			notes = append(notes, fmt.Sprintf("login: one request is a whole sign-in (%d HTTP requests in all)", r.HTTPRequests))
		}
	}
	for _, r := range rep.Results {
		// Explain a wall time well past --duration, so that it is not read as
		// the duration being ignored.
		if r.Wall-rep.Duration > max(rep.Duration/10, 100*time.Millisecond) {
			var parts []string
			if r.Drain >= 50*time.Millisecond {
				parts = append(parts, fmt.Sprintf("%s finishing the operations in flight (each bounded by --request-timeout %s)", secs(r.Drain), rep.RequestTimeout))
			}
			if setup := r.Wall - r.Elapsed; setup >= 50*time.Millisecond {
				parts = append(parts, fmt.Sprintf("%s untimed setup (signing in, obtaining grants or codes)", secs(setup)))
			}
			notes = append(notes, fmt.Sprintf("%s: wall time %s for --duration %s: %s", r.Scenario, secs(r.Wall), rep.Duration, strings.Join(parts, ", ")))
		}
	}
	for _, r := range rep.Results {
		if r.FirstError != "" {
			notes = append(notes, fmt.Sprintf("%s: first error: %s", r.Scenario, r.FirstError))
		}
	}
	for _, r := range rep.Results {
		if r.Stopped != "" {
			notes = append(notes, fmt.Sprintf("%s: cut short (%s): %d operations in flight cancelled, not counted as errors", r.Scenario, r.Stopped, r.Cancelled))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
	if withMem {
		fmt.Fprintf(w, "\nserver memory, PID %d and its descendants: peak sampled VmRSS %s (summed), largest VmHWM (peak since start) of one process %s\n",
			rep.PID, mib(rep.PeakRSS), mib(rep.HWM))
		var procs []string
		for i, p := range rep.Processes {
			if i == maxProcessesShown {
				procs = append(procs, fmt.Sprintf("and %d more", len(rep.Processes)-i))
				break
			}
			procs = append(procs, fmt.Sprintf("%d %s (VmRSS peak %s, VmHWM %s)", p.PID, p.Comm, mib(p.PeakRSS), mib(p.HWM)))
		}
		fmt.Fprintf(w, "measured: %s\n", strings.Join(procs, ", "))
	}
	for _, s := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func secs(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
