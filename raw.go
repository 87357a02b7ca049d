package herald

import (
	"net/http"
)

// rawServer serves hijacked HTTP/1.1 streams from the shards; see
// raw_linux.go. Elsewhere it does not exist and every stream stays on
// net/http.
type rawServer struct {
	h *Hub
	rawPlatform
}

// rawConn is a stream taken off net/http.
type rawConn struct {
	srv *rawServer
	rawConnPlatform
}

var _ sink = (*rawConn)(nil)

// headerBlock writes the response head of a hijacked stream.
func headerBlock(dst []byte, hdr http.Header) []byte {
	dst = append(dst, "HTTP/1.1 200 OK\r\n"...)
	for k, vs := range hdr {
		for _, v := range vs {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	dst = append(dst, "Transfer-Encoding: chunked\r\n\r\n"...)
	return dst
}
