package verifier

// KeyFetchDone returns a channel that is closed when the background fetch
// of tokend's keys under way ends, or nil when no fetch is under way. It
// lets tests wait for the fetch an unknown key id started without
// sleeping.
func KeyFetchDone(v *Verifier) <-chan struct{} {
	if f := v.keyFetch.Load(); f != nil {
		return f.done
	}
	return nil
}

// Revocations returns how many tokens' states the verifier holds.
func Revocations(v *Verifier) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.revocations.len()
}

// ForgetCursor makes the verifier's next sync start from a snapshot, as a
// first sync does, keeping the state it has.
func ForgetCursor(v *Verifier) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cursor = ""
}
