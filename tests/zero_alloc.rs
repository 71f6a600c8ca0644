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

/// The count is process-wide, so this binary has one test: with two, the harness's own thread
/// allocates (reporting the first test) while the second counts its steps.
#[test]
fn a_steady_state_training_step_allocates_nothing() {
    mlp_steps_allocate_nothing();
    convnet_steps_allocate_nothing();
}

fn mlp_steps_allocate_nothing() {
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

fn convnet_steps_allocate_nothing() {
    // Convolutions (patch buffers), "same" padding, pooling (argmax), batch normalization and
    // global pooling: every workspace comes from the plan.
    use minibatch::layers::{
        AveragePooling2D, BatchNormalization, Conv2D, Flatten, GlobalAveragePooling2D, MaxPooling2D,
    };
    let mut model = Sequential::new()
        .input_shape(&[12, 12, 1])
        .add(Conv2D::new(8, 3).activation("relu"))
        .add(MaxPooling2D::new(2))
        .add(BatchNormalization::new())
        .add(Conv2D::new(8, 3).padding("same").activation("gelu"))
        .add(AveragePooling2D::new(2))
        .add(Conv2D::new(6, 1))
        .add(GlobalAveragePooling2D::new())
        .add(Flatten::new())
        .add(Dense::new(10).activation("softmax"));
    model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"]).unwrap();
    for batch in [16usize, 3] {
        let x =
            Tensor::from_vec(&[batch, 12, 12, 1], (0..batch * 144).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
        let y = Tensor::from_vec(&[batch], (0..batch).map(|i| (i % 10) as f32).collect()).unwrap();
        model.train_on_batch(&x, &y).unwrap();
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..5 {
            model.train_on_batch(&x, &y).unwrap();
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "batch {batch}: {} allocations in 5 steady-state steps", after - before);
    }
}
