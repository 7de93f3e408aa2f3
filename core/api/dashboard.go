package api

import "net/http"

// handleDashboard registers the live dashboard's routes on mux.
func (s *Server) handleDashboard(mux *http.ServeMux) {}
