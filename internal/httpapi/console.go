package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// toConsole sends a browser that asks for tokend's root, or /console
// without its slash, to the web console.
func (s *Server) toConsole(c echo.Context) error {
	return c.Redirect(http.StatusFound, "/console/")
}

// console serves the web console's files (package console); the console
// itself calls the API like any other client.
func (s *Server) console(c echo.Context) error {
	if !s.consoleFiles.Serve(c.Response(), c.Request(), c.Param("*")) {
		return echo.ErrNotFound
	}
	return nil
}
