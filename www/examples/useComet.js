import { useEffect, useState } from 'react';
import { Client } from 'comet-fcgi-client';

const client = new Client('/comet'); // one connection for the whole page, whatever the hooks

/** The last `keep` events' data on channel, newest last; resubscribes when channel changes. */
export function useComet(channel, keep = 20) {
    const [events, setEvents] = useState([]);
    useEffect(() => {
        setEvents([]);
        const sub = client.subscribe(channel, (data) => setEvents((old) => [...old, data].slice(-keep)));
        return () => sub.unsubscribe();
    }, [channel, keep]);
    return events;
}
