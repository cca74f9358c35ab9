//! The sieve of Eratosthenes behind `GET /zig/primes`, kept free of HTTP and
//! of the WIT bindings so it can be tested natively (`zig test sieve.zig`).
//!
//! Only odd numbers get a bit: bit `i` stands for `2 * i + 3`, so the sieve up
//! to the largest limit accepted (10 million) needs 625 KB, and 2 is yielded
//! separately. Memory comes from the caller, sized with `bytesFor`.

const std = @import("std");

/// The largest limit the handler accepts: 664,579 primes, about 5 MB of text.
pub const max_limit: u32 = 10_000_000;

pub const Sieve = struct {
    limit: u32,
    /// Bit `i` set means `2 * i + 3` is composite.
    composite: []u8,

    /// Bytes of bitmap `init` needs for `limit`.
    pub fn bytesFor(limit: u32) usize {
        if (limit < 3) return 0;
        const odd_count = (limit - 1) / 2; // odd numbers in 3..=limit
        return (odd_count + 7) / 8;
    }

    /// Sieves `3..=limit` into `buffer`, which must hold `bytesFor(limit)` bytes.
    pub fn init(buffer: []u8, limit: u32) Sieve {
        std.debug.assert(limit <= max_limit);
        const composite = buffer[0..bytesFor(limit)];
        @memset(composite, 0);
        var self = Sieve{ .limit = limit, .composite = composite };
        var p: u32 = 3;
        while (@as(u64, p) * p <= limit) : (p += 2) {
            if (self.isComposite(p)) continue;
            // Smaller multiples of p were crossed off by smaller primes;
            // even multiples have no bit, so step by 2p.
            var m: u32 = p * p;
            while (m <= limit) : (m += 2 * p) {
                const i = (m - 3) / 2;
                self.composite[i / 8] |= @as(u8, 1) << @intCast(i % 8);
            }
        }
        return self;
    }

    fn isComposite(self: Sieve, odd: u32) bool {
        const i = (odd - 3) / 2;
        return self.composite[i / 8] & (@as(u8, 1) << @intCast(i % 8)) != 0;
    }

    /// How many primes are at most `limit`.
    pub fn count(self: Sieve) u32 {
        var n: u32 = 0;
        var it = self.primes();
        while (it.next()) |_| n += 1;
        return n;
    }

    /// The primes up to `limit`, in increasing order.
    pub fn primes(self: Sieve) Iterator {
        return .{ .sieve = self, .next_candidate = 2 };
    }

    pub const Iterator = struct {
        sieve: Sieve,
        next_candidate: u64,

        pub fn next(it: *Iterator) ?u32 {
            while (it.next_candidate <= it.sieve.limit) {
                const n: u32 = @intCast(it.next_candidate);
                it.next_candidate = if (n == 2) 3 else n + 2;
                if (n == 2 or !it.sieve.isComposite(n)) return n;
            }
            return null;
        }
    };
};

fn sieveOf(limit: u32) !struct { sieve: Sieve, buffer: []u8 } {
    const buffer = try std.testing.allocator.alloc(u8, Sieve.bytesFor(limit));
    return .{ .sieve = Sieve.init(buffer, limit), .buffer = buffer };
}

test "limits below two have no primes" {
    for ([_]u32{ 0, 1 }) |limit| {
        const s = try sieveOf(limit);
        defer std.testing.allocator.free(s.buffer);
        try std.testing.expectEqual(@as(u32, 0), s.sieve.count());
    }
}

test "the first primes come out in order" {
    const s = try sieveOf(30);
    defer std.testing.allocator.free(s.buffer);
    const expected = [_]u32{ 2, 3, 5, 7, 11, 13, 17, 19, 23, 29 };
    var it = s.sieve.primes();
    for (expected) |p| try std.testing.expectEqual(@as(?u32, p), it.next());
    try std.testing.expectEqual(@as(?u32, null), it.next());
}

test "a prime limit is included" {
    const s = try sieveOf(13);
    defer std.testing.allocator.free(s.buffer);
    try std.testing.expectEqual(@as(u32, 6), s.sieve.count());
}

test "counts match the prime-counting function" {
    // pi(x) for powers of ten, up to the largest limit accepted.
    const cases = [_][2]u32{ .{ 2, 1 }, .{ 10, 4 }, .{ 100, 25 }, .{ 1_000, 168 }, .{ 10_000, 1_229 }, .{ 100_000, 9_592 }, .{ 1_000_000, 78_498 }, .{ max_limit, 664_579 } };
    for (cases) |case| {
        const s = try sieveOf(case[0]);
        defer std.testing.allocator.free(s.buffer);
        try std.testing.expectEqual(case[1], s.sieve.count());
    }
}
