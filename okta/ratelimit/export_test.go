package ratelimit

// FirstLuaForTest is first.lua as Redis runs it, for tests that load it
// ahead (a NOSCRIPT answer costs a round trip more).
func FirstLuaForTest() string { return luaCommon + luaFirst }
