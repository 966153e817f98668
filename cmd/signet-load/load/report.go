package load

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as an aligned table.
func WriteTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "signet-load: %s, %d workers, %s per scenario\n\n", rep.Issuer, rep.Concurrency, rep.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	withMem := rep.HWM > 0 || rep.PeakRSS > 0
	header := "scenario\trequests\treq/s\tp50\tp99\terrors\t"
	if withMem {
		header += "peak RSS\t"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rep.Results {
		line := fmt.Sprintf("%s\t%d\t%.1f\t%s\t%s\t%d\t", r.Scenario, r.Requests, r.PerSecond, ms(r.P50), ms(r.P99), r.Errors)
		if withMem {
			line += mib(r.PeakRSS) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	for _, r := range rep.Results {
		if r.Scenario == Login && r.Requests > 0 {
			fmt.Fprintf(w, "\nlogin: one request is a whole sign-in (%d HTTP requests in all)\n", r.HTTPRequests)
		}
	}
	for _, r := range rep.Results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", r.Scenario, r.FirstError)
		}
	}
	if withMem {
		fmt.Fprintf(w, "\nserver memory: peak sampled VmRSS %s, VmHWM (peak since start) %s\n", mib(rep.PeakRSS), mib(rep.HWM))
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
