package stream

// SetDeliverHook makes g call f with every event it delivers, under the
// group's lock and so in the order the group delivers them, whichever
// reader takes them. Tests use it to check per-key order across readers.
func SetDeliverHook(g *ReaderGroup, f func(reader string, ev Event)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onDeliver = f
}
