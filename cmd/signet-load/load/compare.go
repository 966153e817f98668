package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// StartReference starts a reference server signing with the given
// algorithms and returns its issuer URL and a function that stops it.
type StartReference func(ctx context.Context, accessAlg, idAlg string) (issuer string, stop func(), err error)

// CompareRow is one scenario of a comparison: the provider's and the
// reference's results, one per round, and the median ratios.
type CompareRow struct {
	Scenario  string   `json:"scenario"`
	Provider  []Result `json:"provider"`
	Reference []Result `json:"reference"`
	// Ratio is the median over the rounds of provider req/s / reference
	// req/s (each round's pair measured back to back); P99Ratio the median of
	// provider p99 / reference p99.
	Ratio    float64 `json:"ratio"`
	P99Ratio float64 `json:"p99_ratio"`
}

// Comparison is the outcome of Compare.
type Comparison struct {
	Issuer         string       `json:"issuer"`
	Reference      string       `json:"reference"`
	Concurrency    int          `json:"concurrency"`
	Rounds         int          `json:"rounds"`
	AccessTokenAlg string       `json:"access_token_alg"`
	IDTokenAlg     string       `json:"id_token_alg"`
	Rows           []CompareRow `json:"rows"`
}

// CompareScenarios are the scenarios a reference server can serve: it has no
// login page, no userinfo and no introspection.
var CompareScenarios = []string{Code, Refresh}

// Compare runs each scenario against the provider (cfg) and then against a
// storage-less reference server signing the same token shapes with the same
// algorithms (started once, after the provider's first answer shows them), in
// turn, rounds times, so that a change in the machine's speed touches both
// sides of each ratio alike.
func Compare(ctx context.Context, cfg Config, rounds int, start StartReference, out io.Writer) (*Comparison, error) {
	if rounds <= 0 {
		rounds = 1
	}
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = CompareScenarios
	}
	for _, s := range cfg.Scenarios {
		if !slices.Contains(CompareScenarios, s) {
			return nil, fmt.Errorf("--compare-raw runs %v only: the reference server has no %s", CompareScenarios, s)
		}
	}
	cmp := &Comparison{Issuer: cfg.Issuer, Concurrency: cfg.Concurrency, Rounds: rounds}
	rows := make([]CompareRow, len(cfg.Scenarios))
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for round := range rounds {
		for i, sc := range cfg.Scenarios {
			rows[i].Scenario = sc
			one := cfg
			one.Scenarios = []string{sc}
			rep, err := Run(ctx, one, nil)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s against %s: %w", round+1, sc, cfg.Issuer, err)
			}
			if stop == nil {
				cmp.AccessTokenAlg, cmp.IDTokenAlg = rep.AccessTokenAlg, rep.IDTokenAlg
				if cmp.AccessTokenAlg == "" {
					return nil, errors.New("the provider's access tokens are not JWTs: the reference signs JWTs, so the comparison would not be like for like")
				}
				if cmp.IDTokenAlg == "" {
					cmp.IDTokenAlg = cmp.AccessTokenAlg
				}
				if cmp.Reference, stop, err = start(ctx, cmp.AccessTokenAlg, cmp.IDTokenAlg); err != nil {
					return nil, fmt.Errorf("reference server: %w", err)
				}
			}
			ref := one
			ref.Issuer, ref.PID = cmp.Reference, 0
			refRep, err := Run(ctx, ref, nil)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s against the reference: %w", round+1, sc, err)
			}
			rows[i].Provider = append(rows[i].Provider, rep.Results[0])
			rows[i].Reference = append(rows[i].Reference, refRep.Results[0])
		}
	}
	for i := range rows {
		var ratios, p99s []float64
		for j := range rows[i].Provider {
			p, r := rows[i].Provider[j], rows[i].Reference[j]
			if r.PerSecond > 0 {
				ratios = append(ratios, p.PerSecond/r.PerSecond)
			}
			if r.P99 > 0 {
				p99s = append(p99s, float64(p.P99)/float64(r.P99))
			}
		}
		rows[i].Ratio, rows[i].P99Ratio = median(ratios), median(p99s)
	}
	cmp.Rows = rows
	if out != nil {
		WriteComparison(out, cmp)
	}
	return cmp, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// WriteComparison writes a comparison as a table: per scenario and round the
// two rates and p99s, then the median ratios.
func WriteComparison(w io.Writer, c *Comparison) {
	fmt.Fprintf(w, "signet-load --compare-raw: %s against the reference %s, %d workers, %d round(s), access tokens %s, ID tokens %s\n\n",
		c.Issuer, c.Reference, c.Concurrency, c.Rounds, c.AccessTokenAlg, c.IDTokenAlg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tround\tprovider req/s\treference req/s\tratio\tprovider p99\treference p99\tp99 ratio\terrors\t")
	for _, row := range c.Rows {
		for j := range row.Provider {
			p, r := row.Provider[j], row.Reference[j]
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.2f\t%s\t%s\t%.2f\t%d/%d\t\n", row.Scenario, j+1, p.PerSecond, r.PerSecond,
				safeDiv(p.PerSecond, r.PerSecond), ms(p.P99), ms(r.P99), safeDiv(float64(p.P99), float64(r.P99)), p.Errors, r.Errors)
		}
		fmt.Fprintf(tw, "%s\tmedian\t\t\t%.2f\t\t\t%.2f\t\t\n", row.Scenario, row.Ratio, row.P99Ratio)
	}
	tw.Flush()
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
