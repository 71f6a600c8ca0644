//! A steady-state training step allocates nothing: counted by a global allocator.
//! (Its own test binary, because the counting allocator is process-wide.)

use minibatch::layers::{Dense, Dropout};
use minibatch::optimizers::Adam;
use minibatch::{Sequential, Tensor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn train_on_batch_allocates_nothing_after_the_first_call() {
    // The MLP shape (smaller hidden layers keep the test fast), with dropout and a
    // fused softmax/cross-entropy, at batch sizes 1 and 32.
    let mut model = Sequential::new()
        .input_shape(&[784])
        .add(Dense::new(64).activation("relu"))
        .add(Dropout::new(0.2))
        .add(Dense::new(64).activation("gelu"))
        .add(Dense::new(10).activation("softmax"));
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    for batch in [32usize, 1] {
        let x = Tensor::from_vec(&[batch, 784], (0..batch * 784).map(|i| (i % 255) as f32 / 255.0).collect()).unwrap();
        let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 10) as f32).collect()).unwrap();
        model.train_on_batch(&x, &y).unwrap(); // plans the buffers, sizes optimizer state
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..5 {
            model.train_on_batch(&x, &y).unwrap();
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "batch {batch}: {} allocations in 5 steady-state steps", after - before);
    }
}
