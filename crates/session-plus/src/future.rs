//! The response future of [`SessionService`](crate::SessionService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower_service::Service;

use crate::service::Slot;

type Saving<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

pin_project! {
    /// Calls the inner service on its first poll, then polls its future: so
    /// that the call runs inside the task-local scope too.
    #[project = CallProj]
    pub(crate) enum Call<S, R, F> {
        Pending { call: Option<(S, R)> },
        Running { #[pin] fut: F },
    }
}

impl<S, R, F> Call<S, R, F> {
    pub(crate) fn new(svc: S, req: R) -> Self {
        Call::Pending {
            call: Some((svc, req)),
        }
    }
}

impl<S, R, F> Future for Call<S, R, F>
where
    S: Service<R, Future = F>,
    F: Future<Output = Result<S::Response, S::Error>>,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                CallProj::Pending { call } => {
                    let Some((mut svc, req)) = call.take() else {
                        unreachable!("Call::Pending holds its call until polled")
                    };
                    let fut = svc.call(req);
                    self.set(Call::Running { fut });
                }
                CallProj::Running { fut } => return fut.poll(cx),
            }
        }
    }
}

pin_project! {
    /// Resolves to the handler's response with the session saved onto it. A
    /// request whose handler never used the session takes no allocation here.
    pub struct ResponseFuture<S, R, F, B, E> {
        #[pin]
        state: State<S, R, F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, F, B, E> {
        Handler { #[pin] fut: TaskLocalFuture<Slot, Call<S, R, F>> },
        Saving { fut: Saving<B, E> },
    }
}

impl<S, R, F, B, E> ResponseFuture<S, R, F, B, E> {
    pub(crate) fn new(fut: TaskLocalFuture<Slot, Call<S, R, F>>) -> Self {
        Self {
            state: State::Handler { fut },
        }
    }
}

impl<S, R, F, B, E> Future for ResponseFuture<S, R, F, B, E>
where
    S: Service<R, Response = Response<B>, Error = E, Future = F>,
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

impl<S, R, F, B, E> fmt::Debug for ResponseFuture<S, R, F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
