package httpapi

// EncodeListCursor exposes the list cursor's encoding to the benchmarks.
var EncodeListCursor = encodeListCursor
