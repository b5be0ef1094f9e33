//! [`Shared`]: settings the API reads on every request and a reload
//! replaces whole.

use std::sync::{Arc, PoisonError, RwLock};

/// A value read often and replaced now and then (by a reload): readers
/// take a cheap handle on the current one and keep it for their request;
/// a reload puts a new one in for the requests after it.
#[derive(Debug)]
pub struct Shared<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(RwLock::new(Arc::new(value))))
    }

    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `value` in force for every reader from now on.
    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_what_they_took_and_see_the_new_value_after_a_set() {
        let shared = Shared::new(1);
        let other = shared.clone();
        let taken = shared.get();
        other.set(2);
        assert_eq!((*taken, *shared.get()), (1, 2));
    }
}
