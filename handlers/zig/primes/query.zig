//! The query of `GET /zig/primes`, checked strictly: `limit=N` and nothing
//! else, N in decimal digits only (no sign, separators or percent-encoding)
//! and at most `max_limit`. Apart from HTTP, so `zig test query.zig` runs natively.

const std = @import("std");
const max_limit = @import("sieve.zig").max_limit;

pub const ParseError = error{ MissingLimit, RepeatedLimit, UnknownParameter, NotANumber, TooLarge };

/// The `limit` of a query such as `limit=100`; empty parameters are skipped.
pub fn parseLimit(query: []const u8) ParseError!u32 {
    var limit: ?u32 = null;
    var params = std.mem.splitScalar(u8, query, '&');
    while (params.next()) |param| {
        if (param.len == 0) continue; // tolerate "?&limit=1" and a trailing '&'
        const name, const value = std.mem.cutScalar(u8, param, '=') orelse .{ param, "" };
        if (!std.mem.eql(u8, name, "limit")) return error.UnknownParameter;
        if (limit != null) return error.RepeatedLimit;
        limit = try parseDecimal(value);
    }
    return limit orelse error.MissingLimit;
}

fn parseDecimal(digits: []const u8) ParseError!u32 {
    if (digits.len == 0) return error.NotANumber;
    var n: u64 = 0;
    for (digits) |d| {
        if (d < '0' or d > '9') return error.NotANumber;
        n = n * 10 + (d - '0');
        if (n > max_limit) return error.TooLarge;
    }
    return @intCast(n);
}

test "a decimal limit is accepted, up to the maximum" {
    try std.testing.expectEqual(@as(u32, 100), try parseLimit("limit=100"));
    try std.testing.expectEqual(@as(u32, 0), try parseLimit("limit=0"));
    try std.testing.expectEqual(max_limit, try parseLimit("limit=10000000"));
}

test "empty parameters are skipped" {
    try std.testing.expectEqual(@as(u32, 7), try parseLimit("&limit=7&"));
}

test "a missing limit is rejected" {
    try std.testing.expectError(error.MissingLimit, parseLimit(""));
    try std.testing.expectError(error.MissingLimit, parseLimit("&"));
}

test "a limit that is not plain decimal digits is rejected" {
    for ([_][]const u8{ "limit", "limit=", "limit=+5", "limit=-1", "limit=1_000", "limit=0x10", "limit=%31", "limit=1.5" }) |query| {
        try std.testing.expectError(error.NotANumber, parseLimit(query));
    }
}

test "a limit above the maximum is rejected without overflowing" {
    try std.testing.expectError(error.TooLarge, parseLimit("limit=10000001"));
    try std.testing.expectError(error.TooLarge, parseLimit("limit=99999999999999999999999"));
}

test "repeated and unknown parameters are rejected" {
    try std.testing.expectError(error.RepeatedLimit, parseLimit("limit=1&limit=2"));
    try std.testing.expectError(error.UnknownParameter, parseLimit("limit=1&n=2"));
    try std.testing.expectError(error.UnknownParameter, parseLimit("LIMIT=1"));
}
