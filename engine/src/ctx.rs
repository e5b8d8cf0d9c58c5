//! The context one command runs in: the engine, the client's selected database and the effects
//! it produces.

use crate::effect::Effects;
use crate::keyspace::Guard;
use crate::Engine;

pub struct Ctx<'a> {
    pub eng: &'a Engine,
    pub db: usize,
    pub effects: &'a mut Effects,
    /// False under CLIENT NO-TOUCH: reads then leave the access clock alone.
    pub touch: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(eng: &'a Engine, db: usize, effects: &'a mut Effects) -> Ctx<'a> {
        Ctx {
            eng,
            db,
            effects,
            touch: true,
        }
    }

    /// Locks the shards of `keys` in the current database.
    pub fn lock(&mut self, keys: &[&[u8]]) -> Guard<'_> {
        let mut g = self.eng.lock(self.db, keys, self.effects);
        g.touch = self.touch;
        g
    }

    pub fn db_u32(&self) -> u32 {
        self.db as u32
    }
}
