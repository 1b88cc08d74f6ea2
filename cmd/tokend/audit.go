package main

import (
	"fmt"

	"github.com/tokend/tokend/internal/store"
)

// auditVerify walks the audit log's chain of hashes and fails, naming the
// first event changed, deleted or reordered, if it does not verify.
func (e env) auditVerify(args []string) error {
	return e.withStore("audit verify", args, func(st *store.Store) error {
		rep, err := st.VerifyChain(e.ctx)
		if err != nil {
			return err
		}
		if rep.Events == 0 {
			fmt.Fprintf(e.stdout, "ok: the audit log holds no events (the chain resumes at %d)\n", rep.StartSeq)
			return nil
		}
		fmt.Fprintf(e.stdout, "ok: %d events, %d to %d, each follows the one before it and matches its hash\n",
			rep.Events, rep.StartSeq, rep.HeadSeq)
		return nil
	})
}
