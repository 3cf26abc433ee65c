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

/// When to give up.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most search steps.
    pub max_steps: u64,
    /// Wall-clock deadline.
    pub deadline: Option<Instant>,
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
    /// Out of budget after this many steps.
    GaveUp(u64),
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

/// The visited (bitset, state) pairs: an arena with hash chains.
struct Seen<S> {
    words: usize,
    bits: Vec<u64>,
    states: Vec<S>,
    chain: Vec<u32>,
    heads: HashMap<u64, u32, BuildHasherDefault<Passthrough>>,
}

impl<S: Eq + Clone> Seen<S> {
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
        if steps >= budget.max_steps
            || (steps & 0x3ff == 0 && budget.deadline.is_some_and(|d| Instant::now() >= d))
        {
            return SearchResult {
                found: Found::GaveUp(steps),
                steps,
            };
        }
        let node = cur as usize;
        let it = ev.item[node] as usize;
        // Linearize the op called here, or drop the optional op returning here.
        let dropping = !ev.is_call[node] && ev.item[node] != NONE && !items[it].required;
        let advance = if ev.is_call[node] {
            model.step(&state, items[it].op)
        } else if dropping {
            Some(state.clone())
        } else {
            None
        };
        if let Some(next) = advance {
            bits[it / 64] |= 1 << (it % 64);
            let h = set_hash ^ zobrist[it];
            if seen.insert(h ^ hash_state(&next), &bits, &next) {
                set_hash = h;
                let before = std::mem::replace(&mut state, next);
                stack.push(Frame {
                    item: it,
                    before,
                    dropped: dropping,
                });
                ev.lift(it);
                if items[it].required {
                    remaining -= 1;
                }
                cur = ev.next[HEAD as usize];
                continue;
            }
            bits[it / 64] &= !(1 << (it % 64));
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
        if items[it].required {
            remaining += 1;
        }
        // Go on after its call (for a dropped op, its call is before its return, so the scan
        // comes back to the return and backtracks further, all other options being tried).
        cur = ev.next[ev.call_node[it] as usize];
    }
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
