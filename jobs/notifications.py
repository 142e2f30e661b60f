"""Job adapter: send one outbox notification."""
from portal.clock import clock
from portal.extensions import db


def send_notification(notification_id: int) -> str:
    """Deliver notification ``notification_id`` through its channel's provider; commit; return its status."""
    from portal.notifications.delivery import deliver

    status = deliver(int(notification_id), now=clock().now())
    db.session.commit()
    return status
