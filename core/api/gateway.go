package api

import "net/http"

// gatewayHandler serves etcd's gRPC-gateway paths (/v3/kv/range, ...).
func (s *Server) gatewayHandler() http.Handler { return http.NotFoundHandler() }
