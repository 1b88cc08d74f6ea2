package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/app"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/store"
)

func (e env) keysList(args []string) error {
	return e.withStore("keys list", args, func(st *store.Store) error {
		recs, err := st.Keys.ListKeys(e.ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tSTATUS\tCREATED\tROTATED\tRETIRES")
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.StatusAt(now), apitoken.FormatTime(r.CreatedAt),
				timeOrDash(r.RotatedAt), timeOrDash(firstTime(r.RetiredAt, r.RetireAt)))
		}
		return tw.Flush()
	})
}

func (e env) keysRotate(args []string) error {
	return e.withApp("keys rotate", args, 0, nil, func(cfg *config.Config, a *app.App, _ []string) error {
		rec, err := a.Ring.Rotate(e.ctx, cfg.MaxTokenLifetime)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, rec.ID)
		return nil
	})
}

func (e env) keysRetire(args []string) error {
	return e.withApp("keys retire", args, 1, nil, func(_ *config.Config, a *app.App, rest []string) error {
		if err := a.Ring.Retire(e.ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, rest[0])
		return nil
	})
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return apitoken.FormatTime(*t)
}

func firstTime(ts ...*time.Time) *time.Time {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}
