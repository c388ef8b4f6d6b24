//! Index pools with generation-checked handles.
//!
//! Objects (applications, app workers, listeners, sessions) live in vectors
//! and are named by index, as in VPP's pools. A freed slot is reused, so
//! each slot carries a generation that is bumped on free: a [`Handle`] kept
//! by an application across calls is refused once its object is gone,
//! instead of naming whoever took the slot next.

use crate::error::SessionError;

/// A pool index plus the generation of the slot when the handle was made.
///
/// An application keeps its handles across calls; if the object was
/// freed and the slot reused meanwhile, the generation no longer matches
/// and the handle is refused instead of naming someone else's object.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    /// Pool index.
    pub index: u32,
    /// Generation of the slot.
    pub generation: u32,
}

impl Handle {
    /// Packs the handle for an API message: generation high, index low.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// Unpacks [`Handle::to_u64`].
    pub fn from_u64(v: u64) -> Self {
        Self { index: v as u32, generation: (v >> 32) as u32 }
    }
}

#[derive(Debug, Clone)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A vector of slots addressed by `u32` index, reusing freed slots.
#[derive(Debug, Clone)]
pub struct Pool<T> {
    what: &'static str,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Pool<T> {
    /// An empty pool; `what` names its objects in errors (e.g. "listeners").
    pub fn new(what: &'static str) -> Self {
        Self { what, slots: Vec::new(), free: Vec::new(), len: 0 }
    }

    /// Inserts the value `make` builds for the free index it is given; nothing changes if it fails.
    pub fn insert_with(&mut self, make: impl FnOnce(u32) -> Result<T, SessionError>) -> Result<Handle, SessionError> {
        let index = match self.free.last() {
            Some(&i) => i,
            None => u32::try_from(self.slots.len()).map_err(|_| SessionError::TooMany(self.what))?,
        };
        let value = make(index)?;
        if self.free.pop().is_none() {
            self.slots.push(Slot { generation: 0, value: None });
        }
        let slot = &mut self.slots[index as usize];
        slot.value = Some(value);
        self.len += 1;
        Ok(Handle { index, generation: slot.generation })
    }

    /// Frees a slot and returns its value; handles to it become stale.
    pub fn remove(&mut self, index: u32) -> Option<T> {
        let slot = self.slots.get_mut(index as usize)?;
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        Some(value)
    }

    /// The value at an index.
    pub fn get(&self, index: u32) -> Option<&T> {
        self.slots.get(index as usize)?.value.as_ref()
    }

    /// The value at an index, mutably.
    pub fn get_mut(&mut self, index: u32) -> Option<&mut T> {
        self.slots.get_mut(index as usize)?.value.as_mut()
    }

    /// The current handle of a live index.
    pub fn handle(&self, index: u32) -> Option<Handle> {
        let slot = self.slots.get(index as usize)?;
        slot.value.as_ref().map(|_| Handle { index, generation: slot.generation })
    }

    /// The value a handle names, if it is live and not stale.
    pub fn get_checked(&self, handle: Handle) -> Option<&T> {
        (self.handle(handle.index)? == handle).then(|| self.get(handle.index)).flatten()
    }

    /// The value a handle names, mutably, if it is live and not stale.
    pub fn get_mut_checked(&mut self, handle: Handle) -> Option<&mut T> {
        if self.handle(handle.index)? != handle {
            return None;
        }
        self.get_mut(handle.index)
    }

    /// Live values with their indices.
    pub fn iter_indexed(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.value.as_ref().map(|v| (i as u32, v)))
    }

    /// Indices of the live values (collected, so the pool can change while they are visited).
    pub fn indices(&self) -> Vec<u32> {
        self.iter_indexed().map(|(i, _)| i).collect()
    }

    /// Live values, by index.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
