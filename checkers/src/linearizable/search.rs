//! The Wing–Gong / Lowe search (WGL), with memoization of (linearized set, model state).
//!
//! The operations are laid out as a doubly linked list of call and return events in history
//! order. The search repeatedly takes the first call in the list whose op the model accepts in
//! the current state and whose resulting (set of linearized ops, state) has not been seen,
//! lifts it out of the list, and starts over from the head; reaching a return event means the
//! op returning there was not linearized in time, so it backtracks. Optional ops (`info`, or
//! the edges of a window) may also never take effect: reaching an optional op's return drops
//! it (a step that can be undone like any other), and an `info` op has no return at all. The
//! search is done when every required op is linearized.
//!
//! The visited set is an arena of bitsets and states with a hash computed incrementally
//! (Zobrist: one random word per op, xored in and out), so a step costs no allocation.
//!
//! Two reductions (off with [`Budget::plain`], for the tests that compare against the plain
//! search) cut what a non-linearizable history with many `info` ops costs, where every subset
//! of the pending `info` ops used to be a configuration of its own:
//!
//! - **Interchangeable `info` ops are used in call order.** Two ops without a return that the
//!   model says are the same op ([`Model::op_id`]: an `info` write of 3 and another) can
//!   swap places in any linearization once both are called, so the search only tries the
//!   earliest-called one not yet used. The used ones of a class are then always its first
//!   few, and k such ops give k + 1 configurations instead of 2^k.
//! - **An optional op that leaves the state unchanged is not linearized.** Leaving it out
//!   reaches the same state with more ops still available (an `info` cas whose comparison
//!   fails, an `info` write of the current value), so that branch covers this one.
//! - **Per-value pruning** ([`Model::needs`], [`Model::produces`], [`Model::holds`]): a
//!   configuration is abandoned as soon as some op still to be linearized needs a value (a
//!   read of v must see a write of v) that the state does not hold and that no op still to be
//!   linearized can produce. The plain search finds out only when it reaches that op's
//!   return, after trying every order of the ops before it: for a stale read or a lost write,
//!   which is what makes a non-linearizable history expensive.
//!
//! The memo is bounded ([`Budget::max_memo_bytes`]); a search that runs out of steps, time or
//! memory answers [`Found::GaveUp`] with the furthest it got.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::Instant;

use super::model::Model;

const NONE: u32 = u32::MAX;

/// One op of the search: the model's op, its call and return positions.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a, O> {
    /// The model's op.
    pub op: &'a O,
    /// Call position.
    pub call: u32,
    /// Return position; `None`: unconstrained by time after its call (`info`).
    pub ret: Option<u32>,
    /// True: must be linearized (before its return). False: may also never take effect.
    pub required: bool,
}

/// When to give up, and how to search.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most search steps.
    pub max_steps: u64,
    /// Wall-clock deadline.
    pub deadline: Option<Instant>,
    /// Most bytes the memo of visited configurations may hold (approximately).
    pub max_memo_bytes: usize,
    /// True: the plain WGL search, without the reductions (for tests that compare).
    pub plain: bool,
    /// False: no per-value pruning (the other reductions stay). A pruned configuration is
    /// never searched up to the return it cannot pass, so the furthest point the search
    /// reports ([`Frontier`]) can come earlier than the plain search's: the counterexample
    /// is computed without it (`check_key`).
    pub prune_values: bool,
}

impl Budget {
    /// A step limit alone: no deadline, 1 GiB of memo, the reductions on.
    pub fn steps(max_steps: u64) -> Budget {
        Budget {
            max_steps,
            deadline: None,
            max_memo_bytes: 1 << 30,
            plain: false,
            prune_values: true,
        }
    }
}

/// What ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// [`Budget::max_steps`].
    Steps,
    /// [`Budget::deadline`].
    Time,
    /// [`Budget::max_memo_bytes`].
    Memory,
}

impl Exhausted {
    /// What ran out, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Exhausted::Steps => "step budget",
            Exhausted::Time => "timeout",
            Exhausted::Memory => "memory budget",
        }
    }
}

/// How far a search got before it gave up: a partial witness.
#[derive(Debug, Clone)]
pub struct GaveUp<S> {
    /// What ran out.
    pub why: Exhausted,
    /// Search steps taken.
    pub steps: u64,
    /// The furthest return event the search could not yet pass, if it met one, with the
    /// linearization that got there.
    pub frontier: Option<Frontier<S>>,
}

/// The furthest the search got: where it got stuck and how it got there.
#[derive(Debug, Clone)]
pub struct Frontier<S> {
    /// The item whose return event it could not pass (`None`: it ran out of events).
    pub stuck: Option<usize>,
    /// Position of that return event.
    pub pos: u32,
    /// The linearization that got there: items with the state after each.
    pub path: Vec<(usize, S)>,
    /// Distinct states the object could be in when stuck there (at most [`MAX_STATES`]).
    pub states: Vec<S>,
}

/// Most distinct states kept in a [`Frontier`].
pub const MAX_STATES: usize = 8;

/// What the search found.
#[derive(Debug, Clone)]
pub enum Found<S> {
    /// A linearization: items in order with the state after each.
    Linearizable(Vec<(usize, S)>),
    /// None exists.
    NotLinearizable(Frontier<S>),
    /// Out of budget: how far it got.
    GaveUp(GaveUp<S>),
}

/// Result of a search and its step count.
#[derive(Debug, Clone)]
pub struct SearchResult<S> {
    /// The answer.
    pub found: Found<S>,
    /// Search steps taken.
    pub steps: u64,
}

/// The event list.
struct Events {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Item of each node; `NONE` for the sentinels.
    item: Vec<u32>,
    is_call: Vec<bool>,
    pos: Vec<u32>,
    call_node: Vec<u32>,
    ret_node: Vec<u32>,
}

const HEAD: u32 = 0;

impl Events {
    /// The list of call and return events in history order, between the head (node 0) and
    /// a tail sentinel (not a call, no item).
    fn new<O>(items: &[Item<'_, O>]) -> Events {
        let mut ev: Vec<(u32, bool, u32)> = Vec::with_capacity(items.len() * 2);
        for (i, it) in items.iter().enumerate() {
            ev.push((it.call, true, i as u32));
            if let Some(r) = it.ret {
                ev.push((r, false, i as u32));
            }
        }
        // A call sorts before a return at the same position (never happens in a real history).
        ev.sort_by_key(|&(p, call, _)| (p, !call));
        let n = ev.len() + 2;
        let mut e = Events {
            next: (1..=n as u32).collect(),
            prev: (0..n as u32).map(|i| i.wrapping_sub(1)).collect(),
            item: vec![NONE; n],
            is_call: vec![false; n],
            pos: vec![u32::MAX; n],
            call_node: vec![NONE; items.len()],
            ret_node: vec![NONE; items.len()],
        };
        e.next[n - 1] = NONE;
        for (k, &(p, call, i)) in ev.iter().enumerate() {
            let node = k + 1;
            e.item[node] = i;
            e.is_call[node] = call;
            e.pos[node] = p;
            if call {
                e.call_node[i as usize] = node as u32;
            } else {
                e.ret_node[i as usize] = node as u32;
            }
        }
        e
    }

    fn unlink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    fn relink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        self.prev[n as usize] = x;
    }

    fn lift(&mut self, item: usize) {
        self.unlink(self.call_node[item]);
        if self.ret_node[item] != NONE {
            self.unlink(self.ret_node[item]);
        }
    }

    fn unlift(&mut self, item: usize) {
        if self.ret_node[item] != NONE {
            self.relink(self.ret_node[item]);
        }
        self.relink(self.call_node[item]);
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// FxHash-style hasher for model states.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

fn hash_state<S: Hash>(s: &S) -> u64 {
    let mut h = Fx::default();
    s.hash(&mut h);
    splitmix(h.finish())
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The per-value pruning (registers): how many ops not yet linearized need each value (a
/// required read of v, a swapped cas from v) and how many can still produce it (a write of v,
/// a cas to v). A value that is needed but can no longer be produced, and that the state does
/// not hold, starves: that configuration has no future, since the state can never come to
/// hold it again. Counting every unlinearized producer, whenever it is called, keeps this an
/// under-approximation of the dead configurations: no live one is pruned.
struct Supply {
    /// Value each item needs (`NONE`: none, or not required).
    needs: Vec<u32>,
    /// Value each item can produce (`NONE`: none).
    produces: Vec<u32>,
    needers: Vec<u32>,
    producers: Vec<u32>,
    /// How many values starve.
    starving: u32,
}

impl Supply {
    fn new<M: Model>(model: &M, items: &[Item<'_, M::Op>], plain: bool) -> Supply {
        let mut s = Supply {
            needs: vec![NONE; items.len()],
            produces: vec![NONE; items.len()],
            needers: Vec::new(),
            producers: Vec::new(),
            starving: 0,
        };
        if plain {
            return s;
        }
        for (i, it) in items.iter().enumerate() {
            if it.required {
                s.needs[i] = model.needs(it.op).unwrap_or(NONE);
            }
            s.produces[i] = model.produces(it.op).unwrap_or(NONE);
        }
        let top = s
            .needs
            .iter()
            .chain(&s.produces)
            .filter(|&&v| v != NONE)
            .max()
            .map_or(0, |&v| v as usize + 1);
        s.needers = vec![0; top];
        s.producers = vec![0; top];
        for i in 0..items.len() {
            s.unlift(i);
        }
        s
    }

    fn is_starving(&self, v: u32) -> bool {
        let v = v as usize;
        v < self.needers.len() && self.needers[v] > 0 && self.producers[v] == 0
    }

    /// Changes the counts of `v` by `f`, keeping `starving` up to date.
    fn adjust(&mut self, v: u32, f: impl FnOnce(&mut u32, &mut u32)) {
        let before = self.is_starving(v);
        let i = v as usize;
        f(&mut self.needers[i], &mut self.producers[i]);
        let after = self.is_starving(v);
        self.starving = self.starving + u32::from(after) - u32::from(before);
    }

    /// Item `it` leaves the list (linearized or dropped).
    fn lift(&mut self, it: usize) {
        if self.needs[it] != NONE {
            self.adjust(self.needs[it], |n, _| *n -= 1);
        }
        if self.produces[it] != NONE {
            self.adjust(self.produces[it], |_, p| *p -= 1);
        }
    }

    /// Item `it` is back in the list.
    fn unlift(&mut self, it: usize) {
        if self.needs[it] != NONE {
            self.adjust(self.needs[it], |n, _| *n += 1);
        }
        if self.produces[it] != NONE {
            self.adjust(self.produces[it], |_, p| *p += 1);
        }
    }

    /// True if some value starves other than the one the state holds (`None`: unknown, so
    /// nothing is pruned).
    fn dead(&self, holds: Option<u32>) -> bool {
        match holds {
            Some(h) if self.starving > 0 => self.starving > u32::from(self.is_starving(h)),
            _ => false,
        }
    }
}

/// The visited (bitset, state) pairs: an arena with hash chains.
struct Seen<S> {
    words: usize,
    bits: Vec<u64>,
    states: Vec<S>,
    chain: Vec<u32>,
    heads: HashMap<u64, u32, BuildHasherDefault<Passthrough>>,
}

/// Class of each item among interchangeable `info` ops, and how many of each class are used.
struct Classes {
    /// Class of each item; `NONE`: in no class (has a return, or the model gives no id).
    class: Vec<u32>,
    /// Position of each item in its class, in call order.
    rank: Vec<u32>,
    /// How many ops of each class are linearized (always its first ones).
    used: Vec<u32>,
}

impl Classes {
    fn new<M: Model>(model: &M, items: &[Item<'_, M::Op>], plain: bool) -> Classes {
        let mut class = vec![NONE; items.len()];
        let mut rank = vec![0; items.len()];
        let mut sizes: Vec<u32> = Vec::new();
        let mut ids: HashMap<u128, u32> = HashMap::new();
        // Items are in call order (sorted by call), so ranks follow calls.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| items[i].call);
        for i in order {
            let it = &items[i];
            if plain || it.ret.is_some() || it.required {
                continue;
            }
            let Some(id) = model.op_id(it.op) else {
                continue;
            };
            let c = *ids.entry(id).or_insert_with(|| {
                sizes.push(0);
                sizes.len() as u32 - 1
            });
            class[i] = c;
            rank[i] = sizes[c as usize];
            sizes[c as usize] += 1;
        }
        Classes {
            class,
            rank,
            used: vec![0; sizes.len()],
        }
    }

    /// False if an earlier-called op of the same class is still unused.
    fn is_next(&self, it: usize) -> bool {
        let c = self.class[it];
        c == NONE || self.rank[it] == self.used[c as usize]
    }

    fn take(&mut self, it: usize) {
        if let Some(u) = self.used.get_mut(self.class[it] as usize) {
            *u += 1;
        }
    }

    fn put_back(&mut self, it: usize) {
        if let Some(u) = self.used.get_mut(self.class[it] as usize) {
            *u -= 1;
        }
    }
}

impl<S: Eq + Clone> Seen<S> {
    /// Approximate bytes held: per entry its bitset, state and chain link, plus the table.
    fn bytes(&self) -> usize {
        self.states.len()
            * (self.words * 8 + std::mem::size_of::<S>() + 4 + 2 * std::mem::size_of::<u64>())
    }

    fn new(words: usize) -> Self {
        Seen {
            words,
            bits: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
            heads: HashMap::default(),
        }
    }

    /// Adds the pair; false if it was already there.
    fn insert(&mut self, hash: u64, bits: &[u64], state: &S) -> bool {
        let first = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut i = first;
        while i != NONE {
            let k = i as usize;
            if self.states[k] == *state && self.bits[k * self.words..(k + 1) * self.words] == *bits
            {
                return false;
            }
            i = self.chain[k];
        }
        let id = self.states.len() as u32;
        self.bits.extend_from_slice(bits);
        self.states.push(state.clone());
        self.chain.push(first);
        self.heads.insert(hash, id);
        true
    }
}

/// Searches for a linearization of `items` starting from `init`.
pub fn search<M: Model>(
    model: &M,
    items: &[Item<'_, M::Op>],
    init: M::State,
    budget: &Budget,
) -> SearchResult<M::State> {
    let mut ev = Events::new(items);
    let mut classes = Classes::new(model, items, budget.plain);
    let mut supply = Supply::new(model, items, budget.plain || !budget.prune_values);
    let words = items.len().div_ceil(64).max(1);
    let zobrist: Vec<u64> = (0..items.len() as u64)
        .map(|i| splitmix(i ^ 0x5eed))
        .collect();
    let mut bits = vec![0u64; words];
    let mut set_hash = 0u64;
    let mut seen = Seen::new(words);
    let mut state = init;
    seen.insert(hash_state(&state), &bits, &state);
    let mut remaining = items.iter().filter(|it| it.required).count();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut frontier: Option<Frontier<M::State>> = None;
    let mut steps = 0u64;
    let mut cur = ev.next[HEAD as usize];
    loop {
        if remaining == 0 {
            let path = path_of(&stack, &state);
            return SearchResult {
                found: Found::Linearizable(path),
                steps,
            };
        }
        steps += 1;
        if let Some(why) = exhausted(budget, steps, &seen) {
            return SearchResult {
                found: Found::GaveUp(GaveUp {
                    why,
                    steps,
                    frontier,
                }),
                steps,
            };
        }
        let node = cur as usize;
        let it = ev.item[node] as usize;
        // Linearize the op called here, or drop the optional op returning here.
        let dropping = !ev.is_call[node] && ev.item[node] != NONE && !items[it].required;
        let advance = if ev.is_call[node] {
            if classes.is_next(it) {
                model
                    .step(&state, items[it].op)
                    .filter(|next| budget.plain || items[it].required || *next != state)
            } else {
                None
            }
        } else if dropping {
            Some(state.clone())
        } else {
            None
        };
        if let Some(next) = advance {
            supply.lift(it);
            bits[it / 64] |= 1 << (it % 64);
            let h = set_hash ^ zobrist[it];
            if !supply.dead(model.holds(&next)) && seen.insert(h ^ hash_state(&next), &bits, &next)
            {
                set_hash = h;
                let before = std::mem::replace(&mut state, next);
                stack.push(Frame {
                    item: it,
                    before,
                    dropped: dropping,
                });
                ev.lift(it);
                if !dropping {
                    classes.take(it);
                }
                if items[it].required {
                    remaining -= 1;
                }
                cur = ev.next[HEAD as usize];
                continue;
            }
            bits[it / 64] &= !(1 << (it % 64));
            supply.unlift(it);
        }
        if ev.is_call[node] {
            cur = ev.next[node];
            continue;
        }
        // A return (or the tail) that cannot be passed: backtrack.
        if !dropping {
            note_frontier(&mut frontier, &ev, node, &stack, &state);
        }
        let Some(f) = stack.pop() else {
            let frontier = frontier.expect("noted before the stack emptied");
            return SearchResult {
                found: Found::NotLinearizable(frontier),
                steps,
            };
        };
        let it = f.item;
        state = f.before;
        bits[it / 64] &= !(1 << (it % 64));
        set_hash ^= zobrist[it];
        ev.unlift(it);
        supply.unlift(it);
        if !f.dropped {
            classes.put_back(it);
        }
        if items[it].required {
            remaining += 1;
        }
        // Go on after its call (for a dropped op, its call is before its return, so the scan
        // comes back to the return and backtracks further, all other options being tried).
        cur = ev.next[ev.call_node[it] as usize];
    }
}

/// What of the budget ran out, if anything (time and memory are looked at every 1,024 steps).
fn exhausted<S: Eq + Clone>(budget: &Budget, steps: u64, seen: &Seen<S>) -> Option<Exhausted> {
    if steps >= budget.max_steps {
        return Some(Exhausted::Steps);
    }
    if steps & 0x3ff != 0 {
        return None;
    }
    if budget.deadline.is_some_and(|d| Instant::now() >= d) {
        return Some(Exhausted::Time);
    }
    (seen.bytes() > budget.max_memo_bytes).then_some(Exhausted::Memory)
}

/// One step of the current linearization.
struct Frame<S> {
    item: usize,
    /// The state before it.
    before: S,
    /// True: the op was dropped (never took effect) rather than linearized.
    dropped: bool,
}

/// The linearization on the stack, with the state after each op.
fn path_of<S: Clone>(stack: &[Frame<S>], state: &S) -> Vec<(usize, S)> {
    let mut path = Vec::with_capacity(stack.len());
    for (k, f) in stack.iter().enumerate() {
        if !f.dropped {
            let after = stack.get(k + 1).map_or(state, |g| &g.before);
            path.push((f.item, after.clone()));
        }
    }
    path
}

/// Remembers the furthest return event the search was stuck at.
fn note_frontier<S: Clone + Eq>(
    frontier: &mut Option<Frontier<S>>,
    ev: &Events,
    node: usize,
    stack: &[Frame<S>],
    state: &S,
) {
    let pos = ev.pos[node];
    match frontier {
        Some(f) if f.pos > pos => {}
        Some(f) if f.pos == pos => {
            if f.states.len() < MAX_STATES && !f.states.contains(state) {
                f.states.push(state.clone());
            }
        }
        _ => {
            let item = ev.item[node];
            *frontier = Some(Frontier {
                stuck: (item != NONE).then_some(item as usize),
                pos,
                path: path_of(stack, state),
                states: vec![state.clone()],
            });
        }
    }
}
