package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/pkg/client"
)

// every lists tokens in every status.
var every = []string{"active", "disabled", "expired", "revoked"}

// report is what the check found.
type report struct {
	disruptions int
	commandTook time.Duration // how long -disrupt's command ran
	ops         opStats
	downtime    time.Duration
	// recovered counts the changes acknowledged after the last
	// disruption: none means tokend did not recover.
	recovered int

	// lost counts acknowledged changes not found; halfDone, lists whose
	// totals differ from what they list and tokens nobody asked for;
	// wrong, answers no correct server gives.
	lost, halfDone, wrong int
	// unknownCreated and unknownRevoked count the unanswered changes that
	// were carried out.
	unknownCreated, unknownRevoked int
	totals                         int // lists whose total was checked
	authChecked                    int
	problems                       []string
}

func (r *report) failed() bool { return r.lost+r.halfDone+r.wrong > 0 || r.recovered == 0 }

func (r *report) problem(format string, args ...any) {
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "disruptions:                  %d\n", r.disruptions)
	if r.commandTook > 0 {
		fmt.Fprintf(w, "the disrupting command took:  %s\n", r.commandTook.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "creations acknowledged:       %d, lost %d\n", r.ops.creates, r.lost)
	fmt.Fprintf(w, "revocations acknowledged:     %d\n", r.ops.revokes)
	fmt.Fprintf(w, "creations unanswered:         %d, carried out %d\n", r.ops.createsUnknown, r.unknownCreated)
	fmt.Fprintf(w, "revocations unanswered:       %d, carried out %d\n", r.ops.revokesUnknown, r.unknownRevoked)
	fmt.Fprintf(w, "lists' totals checked:        %d\n", r.totals)
	fmt.Fprintf(w, "tokens checked at /auth:      %d\n", r.authChecked)
	fmt.Fprintf(w, "half done:                    %d\n", r.halfDone)
	fmt.Fprintf(w, "wrong answers:                %d\n", r.wrong)
	fmt.Fprintf(w, "acknowledged after the last:  %d\n", r.recovered)
	fmt.Fprintf(w, "longest time with no acknowledged change: %s\n", r.downtime.Round(time.Millisecond))
	for _, p := range r.problems {
		fmt.Fprintln(w, "problem:", p)
	}
}

// check compares what the server holds with the ledger.
func check(ctx context.Context, l *load, r *report) error {
	r.wrong += l.ledger.wrong
	for _, s := range l.ledger.samples {
		r.problem("a refusal no correct server gives: %s", s)
	}
	held := map[string]client.Token{} // by id, every user's
	byDescription := map[string]client.Token{}
	for _, user := range l.users {
		for t, err := range l.api.EachToken(ctx, user, client.TokenFilter{Page: client.Page{Limit: 1000}, Statuses: every}) {
			if err != nil {
				return fmt.Errorf("list the tokens of %s: %w", user, err)
			}
			held[t.ID] = t
			byDescription[t.Description] = t
		}
		if err := checkTotals(ctx, l.api, user, held, r); err != nil {
			return err
		}
	}

	seen := map[string]bool{}
	var live, revoked []*entry
	for _, e := range l.ledger.entries {
		switch e.created {
		case acknowledged:
			t, ok := held[e.id]
			if !ok {
				r.lost++
				r.problem("token %s (%q) was acknowledged and is gone", e.id, e.description)
				continue
			}
			seen[t.ID] = true
			switch {
			case e.revoked == acknowledged && t.Status != "revoked":
				r.lost++
				r.problem("the revocation of %s was acknowledged, and it is %s", t.ID, t.Status)
			case e.revoked == none && t.Status != "active":
				r.wrong++
				r.problem("token %s was never revoked, and it is %s", t.ID, t.Status)
			}
			if e.revoked == unknown && t.Status == "revoked" {
				r.unknownRevoked++
			}
			// /auth must follow what was acknowledged, and the
			// server's state where nothing was.
			if e.revoked == acknowledged || e.revoked == unknown && t.Status == "revoked" {
				revoked = append(revoked, e)
			} else {
				live = append(live, e)
			}
		case unknown:
			t, ok := byDescription[e.description]
			if !ok {
				continue
			}
			seen[t.ID] = true
			r.unknownCreated++
			if t.Status != "active" {
				r.halfDone++
				r.problem("token %s, created without an answer, is %s", t.ID, t.Status)
			}
		}
	}
	for id, t := range held {
		if !seen[id] {
			r.halfDone++
			r.problem("token %s (%q) was never asked for", id, t.Description)
		}
	}
	checkAuth(ctx, l.api.HTTP, l.base, live, revoked, r)
	return nil
}

// checkTotals checks that the lists of a user's tokens, by status and all
// together, say they hold as many tokens as they list: the totals come
// from counts maintained in each change's transaction, so a change that
// was half applied shows here.
func checkTotals(ctx context.Context, api *client.Client, user string, held map[string]client.Token, r *report) error {
	listed := map[string]int{}
	for _, t := range held {
		if t.UserID == user {
			listed[t.Status]++
		}
	}
	check := func(statuses []string, want int) error {
		_, total, err := api.ListTokens(ctx, user, client.TokenFilter{Page: client.Page{Limit: 1}, Statuses: statuses})
		if err != nil {
			return fmt.Errorf("list the tokens of %s: %w", user, err)
		}
		r.totals++
		if total != want {
			r.halfDone++
			r.problem("user %s: the list of %v says it holds %d tokens, and lists %d", user, statuses, total, want)
		}
		return nil
	}
	all := 0
	for _, s := range every {
		all += listed[s]
		if err := check([]string{s}, listed[s]); err != nil {
			return err
		}
	}
	return check(every, all)
}

// checkAuth presents every live token to /auth, which must accept it, and
// every revoked one, which must be refused.
func checkAuth(ctx context.Context, hc *http.Client, base string, live, revoked []*entry, r *report) {
	type job struct {
		e    *entry
		want int
	}
	jobs := make(chan job)
	var wrong atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				got, err := authStatus(ctx, hc, base, j.e.token)
				if err == nil && got == j.want {
					continue
				}
				wrong.Add(1)
				mu.Lock()
				r.problem("/auth answered token %s %d (%v), want %d", j.e.id, got, err, j.want)
				mu.Unlock()
			}
		})
	}
	for _, e := range live {
		jobs <- job{e, http.StatusOK}
	}
	for _, e := range revoked {
		jobs <- job{e, http.StatusUnauthorized}
	}
	close(jobs)
	wg.Wait()
	r.authChecked = len(live) + len(revoked)
	r.wrong += int(wrong.Load())
}

func authStatus(ctx context.Context, hc *http.Client, base, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/auth?scope=customers", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
