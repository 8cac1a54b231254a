//! The response future of [`SessionService`](crate::SessionService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;

use crate::service::Slot;

type Saving<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

pin_project! {
    /// Resolves to the handler's response with the session saved onto it. A
    /// request whose handler never used the session takes no allocation here.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Handler { #[pin] fut: TaskLocalFuture<Slot, F> },
        Saving { fut: Saving<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn new(fut: TaskLocalFuture<Slot, F>) -> Self {
        Self {
            state: State::Handler { fut },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default + Send + 'static,
    E: Send + 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Handler { mut fut } => {
                    let res = ready!(fut.as_mut().poll(cx));
                    // The session is made on first use: most requests have none.
                    let driver = fut.take_value().and_then(|slot| slot.take());
                    let (mut res, driver) = match (res, driver) {
                        (Ok(res), Some(driver)) if driver.was_accessed() => (res, driver),
                        (res, _) => return Poll::Ready(res),
                    };
                    let saving: Saving<B, E> = Box::pin(async move {
                        let outcome = driver.finish().await;
                        crate::service::apply(&mut res, outcome);
                        Ok(res)
                    });
                    self.as_mut()
                        .project()
                        .state
                        .set(State::Saving { fut: saving });
                }
                StateProj::Saving { fut } => return fut.as_mut().poll(cx),
            }
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
