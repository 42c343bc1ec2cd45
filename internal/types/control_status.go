package types

// Written by hand, as status.go: the disconnect is accepted here and goes on elsewhere.

func (DisconnectResp) StatusCode() int { return 202 }
