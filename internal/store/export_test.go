package store

// Wrap exposes the store's error translation to the black-box tests, for
// errors they cause outside the store.
func Wrap(s *Store, err error) error { return s.wrap(err, "") }

// SetBulkChunk sets how many tokens BulkCreate writes in one transaction,
// for tests of several chunks that stay small, and returns the old value.
func SetBulkChunk(n int) int { old := bulkChunk; bulkChunk = n; return old }
