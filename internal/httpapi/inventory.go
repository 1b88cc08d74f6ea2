package httpapi

import (
	"strings"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// setInventory sets the inventory filter of the query parameter name
// (one of inventoryParams) to the value v, or returns what is wrong with v.
func setInventory(inv *apitoken.Inventory, name, v string) *apitoken.Error {
	switch name {
	case "filter[expiresBefore]", "filter[lastUsedBefore]":
		// RFC 3339 as the attributes take it: no comma before a fraction.
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || strings.ContainsRune(v, ',') {
			return paramError(name, "%s must be an RFC 3339 date-time such as 2027-07-01T13:47:17.000Z.", name)
		}
		if name == "filter[expiresBefore]" {
			inv.ExpiresBefore = &t
		} else {
			inv.LastUsedBefore = &t
		}
	case "filter[leaked]":
		if v != "true" && v != "false" {
			return paramError(name, "filter[leaked] must be true or false.")
		}
		leaked := v == "true"
		inv.Leaked = &leaked
	case "filter[scope]":
		if !apitoken.ValidScopeName(v) {
			return paramError(name, "filter[scope] must be one scope name, such as customers.")
		}
		inv.Scope = v
	}
	return nil
}
