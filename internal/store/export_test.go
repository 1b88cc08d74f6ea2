package store

// Wrap exposes the store's error translation to the black-box tests, for
// errors they cause outside the store.
func Wrap(s *Store, err error) error { return s.wrap(err, "") }
