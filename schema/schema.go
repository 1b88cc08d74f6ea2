// Package schema embeds tokend's versioned SQL migrations, one directory per
// database dialect, and the default scope catalog.
//
// Migrations are named NNNN_description.sql and applied in order, each once;
// a migration that has been released is never edited, only followed by a new
// one.
package schema

import "embed"

// Migrations holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var Migrations embed.FS

// Scopes is the default scope catalog: Unit's scope list. tokend adds its
// own scopes to whatever catalog it loads.
//
//go:embed scopes.txt
var Scopes []byte
