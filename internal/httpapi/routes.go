package httpapi

// routes lists every route tokend serves.
func (s *Server) routes() {
	e := s.echo
	e.Use(s.track)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metrics.handler())
	e.GET("/.well-known/paseto-keys", s.pasetoKeys)

	e.POST("/introspect", s.introspect, s.timeout, s.limitBody, s.authenticate)
	e.GET("/revocations", s.revocations, s.timeout, s.authenticate)
	// Gateways send the authorization request with the original method;
	// Envoy also appends the original path. It is the one hot route, and
	// takes no request timeout: it reads the database only on a token's
	// first use, and each database call has its own deadline.
	e.Any("/auth", s.forwardAuth)
	e.Any("/auth/*", s.forwardAuth)

	api := []echoMiddleware{s.timeout, s.limitBody, negotiate, s.authenticate}
	e.POST("/users/:userId/api-tokens", s.createToken, api...)
	e.GET("/users/:userId/api-tokens", s.listTokens, api...)
	e.GET("/users/:userId/api-tokens/:tokenId", s.getToken, api...)
	e.PATCH("/users/:userId/api-tokens/:tokenId", s.updateToken, api...)
	e.DELETE("/users/:userId/api-tokens/:tokenId", s.revokeToken, api...)
	e.GET("/api-tokens", s.listAllTokens, api...)

	e.POST("/users", s.createUser, api...)
	e.GET("/users", s.listUsers, api...)
	e.GET("/users/:userId", s.getUser, api...)
	e.PATCH("/users/:userId", s.updateUser, api...)
}
